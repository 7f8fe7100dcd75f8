package openapitest

import (
	"strings"
	"testing"
)

// TestCheck: bodies OpenAI documents pass, and each broken variant fails
// with the reason, so a passing Validate means something.
func TestCheck(t *testing.T) {
	spec := Load(t)
	cases := []struct {
		name, schema, body string
		wantErr            string // "" for valid
	}{
		{"error body", "ErrorResponse", `{"error":{"message":"x","type":"invalid_request_error","param":null,"code":null}}`, ""},
		{"error without param", "ErrorResponse", `{"error":{"message":"x","type":"t","code":null}}`, "param"},
		{"error code number", "ErrorResponse", `{"error":{"message":"x","type":"t","param":null,"code":3}}`, "code"},
		{"model", "Model", `{"id":"m","object":"model","created":1,"owned_by":"o"}`, ""},
		{"model wrong object", "Model", `{"id":"m","object":"models","created":1,"owned_by":"o"}`, "object"},
		{"model list", "ListModelsResponse", `{"object":"list","data":[{"id":"m","object":"model","created":1,"owned_by":"o"}]}`, ""},
		{"model list item bad", "ListModelsResponse", `{"object":"list","data":[{"id":"m","object":"model","owned_by":"o"}]}`, "created"},
		{"chat", "CreateChatCompletionResponse", `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`, ""},
		{"chat bad finish", "CreateChatCompletionResponse", `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi","refusal":null},"logprobs":null,"finish_reason":"done"}]}`, "finish_reason"},
		// nullable: true in the document (3.0 style) must accept null.
		{"chunk nulls", "CreateChatCompletionStreamResponse", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"logprobs":null,"finish_reason":null}],"usage":null}`, ""},
		{"chunk bad delta", "CreateChatCompletionStreamResponse", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":1},"finish_reason":null}]}`, "content"},
		{"completion", "CreateCompletionResponse", `{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"x","logprobs":null,"finish_reason":"length"}]}`, ""},
		{"completion null finish", "CreateCompletionResponse", `{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"x","logprobs":null,"finish_reason":null}]}`, "finish_reason"},
		{"streamed completion null finish", StreamedCompletion, `{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"x","logprobs":null,"finish_reason":null}]}`, ""},
		// CompoundFilter (inside Response's file_search tool) is recursive.
		{"response event", "ResponseStreamEvent", `{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"a","sequence_number":1,"logprobs":[]}`, ""},
		{"response event bad type", "ResponseStreamEvent", `{"type":"response.nope","sequence_number":1}`, "type"},
		{"response compound filter", "CompoundFilter", `{"type":"and","filters":[{"type":"or","filters":[{"key":"k","type":"eq","value":"v"}]}]}`, ""},
		{"response compound filter nested bad", "CompoundFilter", `{"type":"and","filters":[{"type":"or","filters":[{"key":"k","type":"zz","value":"v"}]}]}`, "filters"},
		{"streamed completion bad finish", StreamedCompletion, `{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"x","logprobs":null,"finish_reason":"tool_calls"}]}`, "finish_reason"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := spec.Check(tc.schema, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid body refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("invalid body accepted (want an error about %s)", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %v does not mention %s", err, tc.wantErr)
			}
		})
	}
}

// tinyDoc is an OpenAPI 3.1 document with a JSON response behind a
// Response Object $ref, a 204 and an SSE stream whose data is JSON text.
const tinyDoc = `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{
 "/a/{id}":{"get":{"responses":{
   "200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/A"}}}},
   "404":{"$ref":"#/components/responses/Err"}}},
  "put":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/A"}}}},
   "responses":{"204":{"description":"done"}}}},
 "/events":{"get":{"responses":{"200":{"description":"stream","content":{"text/event-stream":{"schema":{
   "type":"object","required":["event","data"],"properties":{"event":{"const":"a"},
   "data":{"type":"string","contentMediaType":"application/json","contentSchema":{"$ref":"#/components/schemas/A"}}}}}}}}}}},
"components":{"responses":{"Err":{"description":"e","content":{"application/json":{"schema":{"type":"object","required":["error"]}}}}},
 "schemas":{"A":{"type":"object","required":["at"],"additionalProperties":false,"properties":{"at":{"type":"string","format":"date-time"}}}}}}`

// TestCheckResponse: Parse's checks find each kind of mismatch.
func TestCheckResponse(t *testing.T) {
	spec, err := Parse("file:///tiny.json", []byte(tinyDoc))
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.CompileAll(); err != nil {
		t.Fatal(err)
	}
	get, put, events := Operation{"GET", "/a/{id}"}, Operation{"PUT", "/a/{id}"}, Operation{"GET", "/events"}
	if ops := spec.Operations(); len(ops) != 3 || ops[0] != get || ops[1] != put || ops[2] != events {
		t.Errorf("operations %v", ops)
	}
	cases := []struct {
		name        string
		op          Operation
		status      int
		contentType string
		body        string
		wantErr     string // "" for valid
	}{
		{"valid", get, 200, "application/json; charset=utf-8", `{"at":"2026-01-02T03:04:05Z"}`, ""},
		{"undocumented field", get, 200, "application/json", `{"at":"2026-01-02T03:04:05Z","x":1}`, "additional properties"},
		{"format asserted", get, 200, "application/json", `{"at":"yesterday"}`, "date-time"},
		{"undocumented status", get, 500, "application/json", `{}`, "not documented"},
		{"undocumented media type", get, 200, "text/plain", `{}`, "not documented"},
		{"response through $ref", get, 404, "application/json", `{"error":{}}`, ""},
		{"response through $ref invalid", get, 404, "application/json", `{}`, "missing property 'error'"},
		{"no content", put, 204, "", ``, ""},
		{"body where none is documented", put, 204, "application/json", `{}`, "no content"},
		{"event", events, 200, "text/event-stream", `{"event":"a","data":"{\"at\":\"2026-01-02T03:04:05Z\"}"}`, ""},
		{"event data asserted", events, 200, "text/event-stream", `{"event":"a","data":"{\"at\":1}"}`, "got number, want string"},
		{"event name", events, 200, "text/event-stream", `{"event":"b","data":"{\"at\":\"2026-01-02T03:04:05Z\"}"}`, "value must be 'a'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := spec.CheckResponse(tc.op, tc.status, tc.contentType, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("valid response refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("invalid response accepted (want an error about %s)", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %v does not mention %s", err, tc.wantErr)
			}
		})
	}
	if err := spec.CheckRequest(put, "application/json", []byte(`{"at":"2026-01-02T03:04:05Z"}`)); err != nil {
		t.Errorf("valid request refused: %v", err)
	}
	if err := spec.CheckRequest(put, "application/json", []byte(`{}`)); err == nil {
		t.Error("request without the required field accepted")
	}
	if err := spec.CheckRequest(get, "application/json", []byte(`{}`)); err == nil {
		t.Error("a body for an operation without request body accepted")
	}
}
