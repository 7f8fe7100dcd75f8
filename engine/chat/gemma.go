package chat

import (
	"encoding/json"
	"fmt"
	"strings"
)

// gemmaQuote delimits strings in Gemma 4's call syntax.
const gemmaQuote = `<|"|>`

// parseGemma reads the body of <|tool_call>call:name{key:value,...}<tool_call|>,
// where strings are written <|"|>text<|"|> and keys are bare, and converts
// the arguments to JSON.
func parseGemma(body string) ([]parsedCall, error) {
	s := strings.TrimSpace(body)
	rest, ok := strings.CutPrefix(s, "call:")
	brace := strings.IndexByte(rest, '{')
	if !ok || brace <= 0 || !isFunctionName(rest[:brace]) {
		return nil, fmt.Errorf("%w: not call:name{...}", errNotToolCall)
	}
	r := gemmaReader{s: rest, i: brace}
	args, err := r.object()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotToolCall, err)
	}
	if strings.TrimSpace(r.s[r.i:]) != "" {
		return nil, fmt.Errorf("%w: text after the arguments", errNotToolCall)
	}
	return []parsedCall{{name: rest[:brace], args: json.RawMessage(args)}}, nil
}

// gemmaReader converts Gemma's argument syntax to JSON text.
type gemmaReader struct {
	s string
	i int
}

func (r *gemmaReader) value() (string, error) {
	r.skipSpace()
	rest := r.s[r.i:]
	switch {
	case strings.HasPrefix(rest, gemmaQuote):
		return r.quoted()
	case strings.HasPrefix(rest, "{"):
		return r.object()
	case strings.HasPrefix(rest, "["):
		return r.array()
	}
	end := strings.IndexAny(rest, ",}]")
	if end < 0 {
		return "", fmt.Errorf("unterminated value at %d", r.i)
	}
	lit := strings.TrimSpace(rest[:end])
	if !json.Valid([]byte(lit)) || strings.HasPrefix(lit, `"`) {
		return "", fmt.Errorf("bad literal %q", lit)
	}
	r.i += end
	return lit, nil
}

func (r *gemmaReader) quoted() (string, error) {
	start := r.i + len(gemmaQuote)
	end := strings.Index(r.s[start:], gemmaQuote)
	if end < 0 {
		return "", fmt.Errorf("unterminated string at %d", r.i)
	}
	r.i = start + end + len(gemmaQuote)
	b, _ := json.Marshal(r.s[start : start+end])
	return string(b), nil
}

func (r *gemmaReader) object() (string, error) {
	r.i++ // '{'
	var parts []string
	for {
		r.skipSpace()
		if r.eat('}') {
			return "{" + strings.Join(parts, ",") + "}", nil
		}
		if len(parts) > 0 && !r.eat(',') {
			return "", fmt.Errorf("expected ',' at %d", r.i)
		}
		key, err := r.key()
		if err != nil {
			return "", err
		}
		val, err := r.value()
		if err != nil {
			return "", err
		}
		parts = append(parts, key+":"+val)
	}
}

// key reads a bare or quoted key and its ':'.
func (r *gemmaReader) key() (string, error) {
	r.skipSpace()
	var name string
	if strings.HasPrefix(r.s[r.i:], gemmaQuote) {
		q, err := r.quoted()
		if err != nil {
			return "", err
		}
		r.skipSpace()
		if !r.eat(':') {
			return "", fmt.Errorf("expected ':' at %d", r.i)
		}
		return q, nil
	}
	colon := strings.IndexByte(r.s[r.i:], ':')
	if colon <= 0 {
		return "", fmt.Errorf("expected key at %d", r.i)
	}
	name = strings.TrimSpace(r.s[r.i : r.i+colon])
	if !isFunctionName(name) {
		return "", fmt.Errorf("bad key %q", name)
	}
	r.i += colon + 1
	b, _ := json.Marshal(name)
	return string(b), nil
}

func (r *gemmaReader) array() (string, error) {
	r.i++ // '['
	var parts []string
	for {
		r.skipSpace()
		if r.eat(']') {
			return "[" + strings.Join(parts, ",") + "]", nil
		}
		if len(parts) > 0 && !r.eat(',') {
			return "", fmt.Errorf("expected ',' at %d", r.i)
		}
		val, err := r.value()
		if err != nil {
			return "", err
		}
		parts = append(parts, val)
	}
}

func (r *gemmaReader) eat(c byte) bool {
	if r.i < len(r.s) && r.s[r.i] == c {
		r.i++
		return true
	}
	return false
}

func (r *gemmaReader) skipSpace() {
	for r.i < len(r.s) && strings.IndexByte(" \t\r\n", r.s[r.i]) >= 0 {
		r.i++
	}
}
