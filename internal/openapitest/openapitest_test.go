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
