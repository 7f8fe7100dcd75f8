package tokenizer

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// decodeStep is one decoder of tokenizer.json's "decoder" chain. first says
// the tokens begin the text (not a later chunk of a stream); the steps that
// strip a leading space only act then.
type decodeStep func(tokens []string, first bool) []string

// decoder is the whole chain plus what the stream decoder must know about it.
type decoder struct {
	steps        []decodeStep
	byteFallback bool // holds <0xXX> tokens until their run ends
	byteLevel    bool // holds bytes until they complete a character
	join         bool // no decoder: tokens are joined with spaces
}

// newDecoder builds the chain; without a decoder tokens are joined by spaces.
func newDecoder(raw json.RawMessage) (*decoder, error) {
	d := &decoder{}
	spec, ok, err := parseComponent(raw)
	if err != nil {
		return nil, err
	}
	if !ok {
		d.join = true
		return d, nil
	}
	single := false // an earlier step already fused the tokens into one
	return d, d.add(&spec, &single)
}

func (d *decoder) add(spec *componentSpec, single *bool) error {
	switch spec.Type {
	case "Sequence":
		for _, raw := range spec.Decoders {
			sub, _, err := parseComponent(raw)
			if err != nil {
				return err
			}
			if err := d.add(&sub, single); err != nil {
				return err
			}
		}
		return nil
	case "ByteLevel":
		d.byteLevel, *single = true, true
		d.steps = append(d.steps, decodeByteLevel)
	case "ByteFallback":
		d.byteFallback = true
		d.steps = append(d.steps, decodeByteFallback)
	case "Fuse":
		*single = true
		d.steps = append(d.steps, func(t []string, _ bool) []string { return []string{strings.Join(t, "")} })
	case "Replace":
		f, err := newReplace(spec.Pattern, spec.Content, "decoder")
		if err != nil {
			return err
		}
		d.steps = append(d.steps, perToken(f))
	case "Strip":
		return d.addStrip(spec, *single)
	case "Metaspace":
		scheme, err := prependScheme(spec)
		if err != nil {
			return err
		}
		d.steps = append(d.steps, metaspaceDecode(spec.Replacement, scheme != "never"))
	default:
		return unsupported("decoder", spec.Type)
	}
	return nil
}

func perToken(f func(string) string) decodeStep {
	return func(tokens []string, _ bool) []string {
		for i, t := range tokens {
			tokens[i] = f(t)
		}
		return tokens
	}
}

// addStrip adds the Strip decoder. Once the tokens are fused its leading cut
// belongs to the start of the text only, which keeps streamed chunks exact;
// a trailing cut could never be streamed and is rejected.
func (d *decoder) addStrip(spec *componentSpec, single bool) error {
	if spec.Stop != 0 {
		return unsupported("Strip decoder option", "stop")
	}
	content := []rune(spec.Content)
	if len(content) != 1 {
		return unsupported("Strip decoder content", spec.Content)
	}
	d.steps = append(d.steps, func(tokens []string, first bool) []string {
		if single && !first {
			return tokens
		}
		for i, t := range tokens {
			for n := 0; n < spec.Start && strings.HasPrefix(t, string(content)); n++ {
				t = t[len(string(content)):]
			}
			tokens[i] = t
		}
		return tokens
	})
	return nil
}

// metaspaceDecode turns the replacement character back into spaces; in the
// text's first token it drops them instead (they were prepended).
func metaspaceDecode(rep string, dropFirst bool) decodeStep {
	return func(tokens []string, first bool) []string {
		for i, t := range tokens {
			with := " "
			if i == 0 && first && dropFirst {
				with = ""
			}
			tokens[i] = strings.ReplaceAll(t, rep, with)
		}
		return tokens
	}
}

func decodeByteLevel(tokens []string, _ bool) []string {
	var b []byte
	for _, t := range tokens {
		b = byteLevelBytes(b, t)
	}
	return []string{lossyUTF8(b)}
}

// byteToken parses "<0xXX>" (either hex case), the byte_fallback tokens.
func byteToken(t string) (byte, bool) {
	if len(t) != 6 || t[:3] != "<0x" || t[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexDigit(t[3])
	lo, ok2 := hexDigit(t[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeByteFallback turns runs of byte tokens into text; a run that is not
// valid UTF-8 becomes one U+FFFD per byte, as in the reference.
func decodeByteFallback(tokens []string, _ bool) []string {
	out := make([]string, 0, len(tokens))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if s := string(run); utf8.Valid(run) {
			out = append(out, s)
		} else {
			out = append(out, strings.Repeat("\uFFFD", len(run)))
		}
		run = run[:0]
	}
	for _, t := range tokens {
		if b, ok := byteToken(t); ok {
			run = append(run, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// run applies the chain to tokens and joins the result.
func (d *decoder) run(tokens []string, first bool) string {
	if d.join {
		s := strings.Join(tokens, " ")
		if !first && len(tokens) > 0 {
			s = " " + s
		}
		return s
	}
	for _, step := range d.steps {
		tokens = step(tokens, first)
	}
	return strings.Join(tokens, "")
}

// TokenText returns the text of one token as it reads inside a sequence (a
// sentencepiece "▁" prefix is a space, not dropped as at the start): the
// token strings of logprobs. Unknown ids give "".
func (t *Tokenizer) TokenText(id int32) string {
	tok, ok := t.decodable(id, false)
	if !ok {
		return ""
	}
	return t.decoder.run([]string{tok}, false)
}
