package api

import (
	"bytes"
	"encoding/json"

	"github.com/lmx-app/lmx/engine/grammar"
)

// Structured output: response_format (chat completions) and text.format
// (Responses) become the engine's Format, which the engine compiles with
// llguidance before generating and enforces with a token mask at every step.
// A schema it cannot compile (unsupported keyword, no finite instance, over
// 512 kB) is refused there with a 400 naming the reason. The output is held
// to the schema whether "strict" is set or not.

// outputFormat maps a format type and its schema to the engine's spec; nil
// for free text. param names the field in errors.
func outputFormat(typ string, schema json.RawMessage, param string) (*grammar.Spec, error) {
	switch typ {
	case "", "text":
		return nil, nil
	case "json_object":
		spec := grammar.JSONObject()
		return &spec, nil
	case "json_schema":
		b, err := schemaJSON(schema, param+".schema")
		if err != nil {
			return nil, err
		}
		spec := grammar.JSONSchema(b)
		return &spec, nil
	}
	return nil, paramErr(param+".type", "%s.type %q is unknown (text, json_object or json_schema)", param, typ)
}

// schemaJSON reads a JSON Schema: an object or a boolean, or a string
// holding one (as some clients send it). A missing schema allows any JSON
// object.
func schemaJSON(raw json.RawMessage, param string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return []byte(`{"type":"object"}`), nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = bytes.TrimSpace([]byte(s))
		if !json.Valid(raw) {
			return nil, paramErr(param, "%s is not JSON: %v", param, json.Unmarshal(raw, new(any)))
		}
	}
	if raw[0] != '{' && string(raw) != "true" && string(raw) != "false" {
		return nil, paramErr(param, "%s must be a JSON Schema object", param)
	}
	return raw, nil
}

// chatFormat reads response_format.
func (req *ChatCompletionRequest) chatFormat() (*grammar.Spec, error) {
	rf := req.ResponseFormat
	if rf == nil {
		return nil, nil
	}
	var schema json.RawMessage
	if rf.Type == "json_schema" {
		if rf.JSONSchema == nil {
			return nil, paramErr("response_format.json_schema", "response_format json_schema needs a json_schema object with a schema")
		}
		schema = rf.JSONSchema.Schema
	}
	return outputFormat(rf.Type, schema, "response_format")
}

// ResponseText is the Responses API's text setting: its format.
type ResponseText struct {
	Format *ResponseTextFormat `json:"format,omitempty"`
}

// ResponseTextFormat is text.format: "text", "json_object" or
// "json_schema" (Name, Schema, Strict, flat as the Responses API has it).
type ResponseTextFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// responseFormat reads text.format.
func (r *ResponseRequest) responseFormat() (*grammar.Spec, error) {
	if r.Text == nil || r.Text.Format == nil {
		return nil, nil
	}
	f := r.Text.Format
	return outputFormat(f.Type, f.Schema, "text.format")
}
