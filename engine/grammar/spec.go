package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// Spec is a structured-output constraint: a JSON Schema, any JSON object, or
// a Lark grammar. The zero Spec is invalid.
type Spec struct {
	kind string // llguidance's constraint type: "json" or "lark"
	text string
}

// jsonOptions are llguidance's JSON compile options this package uses (see
// the package doc): compact output, no whitespace between tokens, oneOf as
// anyOf.
const jsonOptions = `{"whitespace_flexible":false,"item_separator":",","key_separator":":","coerce_one_of":true}`

// JSONSchema constrains output to instances of a JSON Schema (draft 2020-12
// and earlier, as far as llguidance implements them).
func JSONSchema(schema []byte) Spec { return Spec{kind: "json", text: string(schema)} }

// JSONObject constrains output to any JSON object (OpenAI's json_object mode).
func JSONObject() Spec { return JSONSchema([]byte(`{"type":"object"}`)) }

// Lark constrains output to llguidance's Lark dialect, which embeds schemas
// as %json{...} (see InlineJSON) and names special tokens as <|...|>.
func Lark(grammar string) Spec { return Spec{kind: "lark", text: grammar} }

// String names the spec's kind and size, for logs.
func (s Spec) String() string { return fmt.Sprintf("%s spec (%d bytes)", s.kindName(), len(s.text)) }

func (s Spec) kindName() string {
	if s.kind == "lark" {
		return "Lark grammar"
	}
	return "JSON schema"
}

// SpecError says why a spec cannot be used; errors.Is(err, ErrInvalidSpec).
type SpecError struct {
	// Kind is "JSON schema" or "Lark grammar".
	Kind string
	// Msg is the reason, llguidance's own message where it has one.
	Msg string
}

// Error returns "invalid <kind>: <reason>".
func (e *SpecError) Error() string { return "invalid " + e.Kind + ": " + e.Msg }

// Is makes errors.Is(err, ErrInvalidSpec) true.
func (e *SpecError) Is(target error) bool { return target == ErrInvalidSpec }

func (s Spec) errorf(format string, args ...any) error {
	return &SpecError{Kind: s.kindName(), Msg: fmt.Sprintf(format, args...)}
}

// cArgs returns the spec as the library's NUL-terminated constraint type and
// data, with this package's JSON options applied.
func (s Spec) cArgs() (kind, data []byte, err error) {
	switch {
	case s.kind == "":
		return nil, nil, &SpecError{Kind: "spec", Msg: "empty (use JSONSchema, JSONObject or Lark)"}
	case len(s.text) > MaxSpecBytes:
		return nil, nil, s.errorf("%d bytes, more than the limit of %d", len(s.text), MaxSpecBytes)
	case strings.IndexByte(s.text, 0) >= 0:
		return nil, nil, s.errorf("contains a NUL byte")
	}
	text := []byte(s.text)
	if s.kind == "json" {
		if text, err = withOptions(text); err != nil {
			return nil, nil, s.errorf("%v", err)
		}
		if err := checkFinite([]byte(s.text)); err != nil {
			return nil, nil, s.errorf("%v", err)
		}
	}
	return cString(s.kind), append(text, 0), nil
}

// withOptions returns the schema with jsonOptions as its "x-guidance" key,
// added textually so the order of properties (which llguidance generates in
// schema order) is kept. A schema's own x-guidance comes later and wins.
func withOptions(schema []byte) ([]byte, error) {
	var raw json.RawMessage
	if err := json.Unmarshal(schema, &raw); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	body := bytes.TrimSpace(schema)
	switch {
	case string(body) == "true":
		body = []byte("{}")
	case string(body) == "false":
		return nil, fmt.Errorf("the schema false allows no value")
	case body[0] != '{':
		return nil, fmt.Errorf("a schema must be a JSON object or a boolean")
	}
	rest := bytes.TrimSpace(body[1:])
	out := append([]byte(`{"x-guidance":`), jsonOptions...)
	if rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}

// InlineJSON returns a Lark %json{...} block for schema, with the JSON
// options JSONSchema uses, for grammars such as
// `start: "<tool_call>\n" ` + block + ` "\n</tool_call>"`.
func InlineJSON(schema []byte) (string, error) {
	s, err := withOptions(schema)
	if err != nil {
		return "", &SpecError{Kind: "JSON schema", Msg: err.Error()}
	}
	var b bytes.Buffer
	if err := json.Compact(&b, s); err != nil {
		return "", &SpecError{Kind: "JSON schema", Msg: err.Error()}
	}
	return "%json " + b.String(), nil
}

// Validate compiles spec against the tokenizer, so a request can be
// refused before it is queued: the error wraps ErrInvalidSpec and says what
// is wrong (llguidance's message, e.g. an unimplemented keyword). It builds
// and frees a matcher, so it costs what NewMatcher costs; NewMatcher makes
// the same checks.
func (t *Tokenizer) Validate(spec Spec) error {
	m, err := t.NewMatcher(spec)
	if err != nil {
		return err
	}
	m.Close()
	return nil
}

// maxMessage bounds an error message's length.
const maxMessage = 600

// tidy makes a library message readable in one line: whitespace collapsed,
// long ones cut.
func tidy(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && msg[cut]&0xC0 == 0x80 { // keep UTF-8 whole
			cut--
		}
		msg = msg[:cut] + "…"
	}
	if msg == "" {
		msg = "unknown error"
	}
	return msg
}
