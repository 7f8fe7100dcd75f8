package api

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/grammar"
	"github.com/lmx-app/lmx/store"
)

// TestStructuredFormatParams: response_format and text.format become the
// engine's Format (json_object any object, json_schema its schema, text or
// none nothing); malformed ones are 400s naming the field.
func TestStructuredFormatParams(t *testing.T) {
	schema := `{"type":"object","properties":{"a":{"type":"integer"}}}`
	for _, c := range []struct {
		name, chat, responses string // the format in each API ("" for none)
		want                  *grammar.Spec
		param                 string // the chat error's field; "text.format..." for Responses
	}{
		{"none", ``, ``, nil, ""},
		{"text", `{"type":"text"}`, `{"type":"text"}`, nil, ""},
		{"json_object", `{"type":"json_object"}`, `{"type":"json_object"}`, ptr(grammar.JSONObject()), ""},
		{"json_schema", `{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":` + schema + `}}`,
			`{"type":"json_schema","name":"x","strict":true,"schema":` + schema + `}`, ptr(grammar.JSONSchema([]byte(schema))), ""},
		{"schema as a string", `{"type":"json_schema","json_schema":{"name":"x","schema":` + jsonQuote(schema) + `}}`,
			`{"type":"json_schema","name":"x","schema":` + jsonQuote(schema) + `}`, ptr(grammar.JSONSchema([]byte(schema))), ""},
		{"schema not JSON", `{"type":"json_schema","json_schema":{"name":"x","schema":"{oops"}}`,
			`{"type":"json_schema","name":"x","schema":"{oops"}`, nil, "response_format.schema"},
		{"schema an array", `{"type":"json_schema","json_schema":{"name":"x","schema":[1]}}`,
			`{"type":"json_schema","name":"x","schema":[1]}`, nil, "response_format.schema"},
		{"unknown type", `{"type":"xml"}`, `{"type":"xml"}`, nil, "response_format.type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			chatBody, respBody := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, `{"model":"m","input":"hi"}`
			if c.chat != "" {
				chatBody = `{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":` + c.chat + `}`
				respBody = `{"model":"m","input":"hi","text":{"format":` + c.responses + `}}`
			}
			var req ChatCompletionRequest
			if err := json.Unmarshal([]byte(chatBody), &req); err != nil {
				t.Fatal(err)
			}
			p, err := req.plan(store.DefaultSettings().Requests)
			checkFormat(t, err, c.param, func() *grammar.Spec { return p.req.Format }, c.want)
			var rr ResponseRequest
			if err := json.Unmarshal([]byte(respBody), &rr); err != nil {
				t.Fatal(err)
			}
			er, _, err := rr.chatRequest(nil)
			checkFormat(t, err, strings.Replace(c.param, "response_format", "text.format", 1), func() *grammar.Spec { return er.Format }, c.want)
		})
	}
	var req ChatCompletionRequest
	_ = json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema"}}`), &req)
	if _, err := req.plan(store.DefaultSettings().Requests); param(err) == nil || *param(err) != "response_format.json_schema" {
		t.Errorf("json_schema without json_schema: %v", err)
	}
}

func checkFormat(t *testing.T, err error, param string, got func() *grammar.Spec, want *grammar.Spec) {
	t.Helper()
	var pe *ParamError
	switch {
	case param != "":
		if !errors.As(err, &pe) || pe.Param != param {
			t.Errorf("error %v, want one naming %s", err, param)
		}
	case err != nil:
		t.Errorf("error %v", err)
	case (got() == nil) != (want == nil) || (want != nil && got().String() != want.String()):
		t.Errorf("format %v, want %v", got(), want)
	}
}

func ptr[T any](v T) *T { return &v }

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
