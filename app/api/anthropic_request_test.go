package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
)

// TestAnthropicRequestToChat: the Messages API's shapes become the
// engine's OpenAI-shaped chat request: system as a string or blocks, tool
// results as tool messages before the user's text, tool_use as tool calls,
// thinking as reasoning, tool_choice and thinking mapped.
func TestAnthropicRequestToChat(t *testing.T) {
	body := `{"model":"m","max_tokens":9,"stop_sequences":["END"],"temperature":0.5,"top_p":0.9,"top_k":40,
	"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Be kind."}],
	"metadata":{"user_id":"u"},"thinking":{"type":"enabled","budget_tokens":1024},
	"tools":[{"name":"get_weather","description":"Weather","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],
	"tool_choice":{"type":"any"},
	"messages":[
	 {"role":"user","content":"Weather in Paris?"},
	 {"role":"assistant","content":[{"type":"thinking","thinking":"Call the tool.","signature":"sig"},{"type":"text","text":"Checking."},
	   {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city": "Paris"}}]},
	 {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"Sunny"}]},{"type":"text","text":"Thanks."}]}]}`
	var req MessagesRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	got, err := req.chatRequest(false)
	if err != nil {
		t.Fatal(err)
	}
	on := true
	want := engine.ChatRequest{
		Messages: []chat.Message{
			{Role: "system", Content: "Be brief.\nBe kind."},
			{Role: "user", Content: "Weather in Paris?"},
			{Role: "assistant", Content: "Checking.", ReasoningContent: "Call the tool.", ToolCalls: []chat.ToolCall{
				{ID: "toolu_1", Type: "function", Function: chat.FunctionCall{Name: "get_weather", Arguments: `{"city":"Paris"}`}}}},
			{Role: "tool", ToolCallID: "toolu_1", Content: "Sunny"},
			{Role: "user", Content: "Thanks."},
		},
		Tools:      json.RawMessage(`[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object"}}}]`),
		ToolChoice: engine.ToolChoiceRequired,
		Reasoning:  &on,
		Params:     engine.Params{MaxTokens: 9, Stop: []string{"END"}},
	}
	want.Sampling.Temperature, want.Sampling.TopP, want.Sampling.TopK = 0.5, 0.9, 40
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chat request\n%+v\nwant\n%+v", got, want)
	}
}

func TestAnthropicChoicesAndDefaults(t *testing.T) {
	off := false
	cases := []struct {
		body      string
		choice    engine.ToolChoice
		reasoning *bool
		temp      float64
	}{
		{`{"tool_choice":{"type":"auto"}}`, engine.ToolChoiceAuto, nil, 1},
		{`{"tool_choice":{"type":"none"},"thinking":{"type":"disabled"}}`, engine.ToolChoiceNone, &off, 1},
		{`{"tool_choice":{"type":"tool","name":"f"},"thinking":{"type":"adaptive"},"temperature":0}`, "f", nil, 0},
	}
	for _, c := range cases {
		var req MessagesRequest
		_ = json.Unmarshal([]byte(c.body), &req)
		req.Model, req.MaxTokens = "m", refOf(1)
		req.Messages = []AnthropicMessage{{Role: "user", Content: json.RawMessage(`"hi"`)}}
		got, err := req.chatRequest(false)
		if err != nil || got.ToolChoice != c.choice || !reflect.DeepEqual(got.Reasoning, c.reasoning) || got.Sampling.Temperature != c.temp {
			t.Errorf("%s: choice %q reasoning %v temperature %v (%v), want %q %v %v", c.body, got.ToolChoice, got.Reasoning, got.Sampling.Temperature, err, c.choice, c.reasoning, c.temp)
		}
	}
	var count MessagesRequest
	_ = json.Unmarshal([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`), &count)
	if _, err := count.chatRequest(true); err != nil {
		t.Errorf("count_tokens needs no max_tokens: %v", err)
	}
	if _, err := count.chatRequest(false); !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "max_tokens") {
		t.Errorf("messages without max_tokens: %v, want an invalid request naming max_tokens", err)
	}
}

// TestPanicsAnswerInTheAPIsShape: a panic in a handler (here the missing
// model backend of fakeBackend) is a 500 in the shape of the API called.
func TestPanicsAnswerInTheAPIsShape(t *testing.T) {
	h := New(Config{}, &fakeBackend{}, NewHub())
	for _, c := range []struct{ path, body, want string }{
		{"/v1/messages", `{"model":"m","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}`, `"type":"error","error":{"type":"api_error","message":"internal error: `},
		{"/v1/messages/count_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, `"type":"error","error":{"type":"api_error"`},
		{"/v1/responses", `{"model":"m","input":"hi"}`, `{"error":{"message":"internal error: `},
	} {
		r := httptest.NewRequest("POST", c.path, strings.NewReader(c.body))
		w := httptest.NewRecorder()
		h.Local().ServeHTTP(w, r)
		if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s, want 500 with %s", c.path, w.Code, w.Body, c.want)
		}
	}
}
