package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
)

// TestResponsesInputToChat: input items become the engine's chat messages:
// developer as system, parts joined, consecutive function calls in one
// assistant turn with the reasoning item before them, outputs as tool
// messages; instructions lead but stay out of the turns a follow-up keeps.
func TestResponsesInputToChat(t *testing.T) {
	body := `{"model":"m","instructions":"Be brief.","max_output_tokens":7,"temperature":0,
	"tools":[{"type":"function","name":"get_weather","description":"Weather","parameters":{"type":"object"},"strict":true}],
	"tool_choice":{"type":"function","name":"get_weather"},"reasoning":{"effort":"none"},
	"input":[
	 {"role":"developer","content":"Use metric units."},
	 {"type":"message","role":"user","content":[{"type":"input_text","text":"Weather in "},{"type":"input_text","text":"Paris and Lyon?"}]},
	 {"type":"reasoning","id":"rs_1","summary":[],"content":[{"type":"reasoning_text","text":"Two calls."}]},
	 {"type":"function_call","call_id":"c1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},
	 {"type":"function_call","call_id":"c2","name":"get_weather","arguments":"{\"city\":\"Lyon\"}"},
	 {"type":"function_call_output","call_id":"c1","output":"Sunny"},
	 {"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"Rain"}]},
	 {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Paris sunny, Lyon rain.","annotations":[]}]},
	 {"role":"user","content":"Thanks."}]}`
	var req ResponseRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	history := []chat.Message{{Role: "user", Content: "Earlier."}, {Role: "assistant", Content: "Yes."}}
	got, turns, err := req.chatRequest(history)
	if err != nil {
		t.Fatal(err)
	}
	call := func(id, city string) chat.ToolCall {
		return chat.ToolCall{ID: id, Type: "function", Function: chat.FunctionCall{Name: "get_weather", Arguments: `{"city":"` + city + `"}`}}
	}
	wantTurns := append(history,
		chat.Message{Role: "system", Content: "Use metric units."},
		chat.Message{Role: "user", Content: "Weather in Paris and Lyon?"},
		chat.Message{Role: "assistant", Content: "", ReasoningContent: "Two calls.", ToolCalls: []chat.ToolCall{call("c1", "Paris"), call("c2", "Lyon")}},
		chat.Message{Role: "tool", ToolCallID: "c1", Content: "Sunny"},
		chat.Message{Role: "tool", ToolCallID: "c2", Content: "Rain"},
		chat.Message{Role: "assistant", Content: "Paris sunny, Lyon rain."},
		chat.Message{Role: "user", Content: "Thanks."},
	)
	if !reflect.DeepEqual(turns, wantTurns) {
		t.Errorf("turns\n%+v\nwant\n%+v", turns, wantTurns)
	}
	off := false
	want := engine.ChatRequest{
		Messages:   append([]chat.Message{{Role: "system", Content: "Be brief."}}, wantTurns...),
		Tools:      json.RawMessage(`[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object"}}}]`),
		ToolChoice: "get_weather",
		Reasoning:  &off,
		Params:     engine.Params{MaxTokens: 7},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chat request\n%+v\nwant\n%+v", got, want)
	}
}

func TestResponsesStringInputAndDefaults(t *testing.T) {
	var req ResponseRequest
	_ = json.Unmarshal([]byte(`{"model":"m","input":"hi","tool_choice":"required"}`), &req)
	got, turns, err := req.chatRequest(nil)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []chat.Message{{Role: "user", Content: "hi"}}
	if !reflect.DeepEqual(got.Messages, msgs) || !reflect.DeepEqual(turns, msgs) || got.ToolChoice != engine.ToolChoiceRequired ||
		got.MaxTokens != DefaultMaxTokens || got.Sampling.Temperature != responsesDefaultTemperature || got.Reasoning != nil {
		t.Errorf("got %+v, turns %+v", got, turns)
	}
	r := newResponse("resp_1", &req)
	if !r.Store || !r.ParallelToolCalls || string(r.ToolChoice) != `"required"` || r.Temperature != 1 || r.TopP != 1 || r.Tools == nil || r.Metadata == nil {
		t.Errorf("response defaults %+v", r)
	}
}

// TestAssistantTurnOfOutput: a stored response continues as one assistant
// turn with its text, reasoning and function calls (call ids kept).
func TestAssistantTurnOfOutput(t *testing.T) {
	r := Response{Output: []any{
		&ResponseReasoningItem{Type: "reasoning", Content: []ResponseReasoningText{{Type: "reasoning_text", Text: "Think."}}},
		&ResponseMessage{Type: "message", Content: []ResponseOutputText{outputText("Calling.")}},
		&ResponseFunctionCall{Type: "function_call", CallID: "call_9", Name: "f", Arguments: `{"x":1}`},
	}}
	want := chat.Message{Role: "assistant", Content: "Calling.", ReasoningContent: "Think.",
		ToolCalls: []chat.ToolCall{{ID: "call_9", Type: "function", Function: chat.FunctionCall{Name: "f", Arguments: `{"x":1}`}}}}
	if got := assistantTurnOf(r); !reflect.DeepEqual(got, want) {
		t.Errorf("assistant turn %+v, want %+v", got, want)
	}
}
