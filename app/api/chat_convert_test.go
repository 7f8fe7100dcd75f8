package api

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/internal/openapitest"
)

// convertCase is a model's raw output in one tool-call format and what the
// chat API must make of it.
type convertCase struct {
	name      string
	format    chat.Format
	opts      chat.Options
	output    string
	content   string
	reasoning string
	calls     []FunctionCall
}

var convertCases = []convertCase{
	{"hermes/text and call", chat.FormatHermes, chat.Options{Thinking: true},
		"I'll check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
		"I'll check.", "", []FunctionCall{{"get_weather", `{"city":"Paris"}`}}},
	{"hermes/think then two calls", chat.FormatHermes, chat.Options{Thinking: true},
		"<think>\nNeed both.\n</think>\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": 1}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>",
		"", "\nNeed both.\n", []FunctionCall{{"a", `{"x":1}`}, {"b", `{}`}}},
	{"hermes/qwen3.5 xml in opened think", chat.FormatHermes, chat.Options{Thinking: true, StartInReasoning: true},
		"List it.\n</think>\n\n<tool_call>\n<function=list_files>\n<parameter=path>\n/tmp\n</parameter>\n</function>\n</tool_call>",
		"", "List it.\n", []FunctionCall{{"list_files", `{"path":"/tmp"}`}}},
	{"hermes/plain answer", chat.FormatHermes, chat.Options{Thinking: true},
		"<think>easy</think>The answer is 4.", "The answer is 4.", "easy", nil},
	{"llama3/bare json", chat.FormatLlama3, chat.Options{},
		"{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", "", []FunctionCall{{"get_weather", `{"city":"Paris"}`}}},
	{"llama3/python tag two calls", chat.FormatLlama3, chat.Options{},
		"<|python_tag|>{\"name\": \"a\", \"parameters\": {}}; {\"name\": \"b\", \"parameters\": {\"q\": \"mlx\"}}",
		"", "", []FunctionCall{{"a", `{}`}, {"b", `{"q":"mlx"}`}}},
	{"mistral/array", chat.FormatMistral, chat.Options{},
		"[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Lyon\"}}]", "", "", []FunctionCall{{"get_weather", `{"city":"Lyon"}`}}},
	{"mistral/name args after text", chat.FormatMistral, chat.Options{},
		"Checking.[TOOL_CALLS]get_time[ARGS]{\"tz\": \"CET\"}", "Checking.", "", []FunctionCall{{"get_time", `{"tz":"CET"}`}}},
	{"gemma/call", chat.FormatGemma, chat.Options{},
		"Searching.<|tool_call>call:search{q:<|\"|>x<|\"|>,n:3}<tool_call|>", "Searching.", "", []FunctionCall{{"search", `{"n":3,"q":"x"}`}}},
	{"none/reasoning only", chat.FormatNone, chat.Options{Thinking: true},
		"<think>count r's</think>\n\nThree.", "Three.", "count r's", nil},
}

// markers must never reach a client as content.
var markers = []string{"<tool_call>", "</tool_call>", "<|python_tag|>", "[TOOL_CALLS]", "<|tool_call>", "<think>", "</think>", "<function="}

// engineEvents runs output through engine/chat's real Parser in random
// chunks and returns the events the engine sends for it (the mapping of
// engine/stream.go: content → text, reasoning, tool call), ending in Done.
func engineEvents(rng *rand.Rand, tc convertCase) []engine.Event {
	p := chat.NewParser(tc.format, tc.opts)
	var parsed []chat.Event
	for s := tc.output; len(s) > 0; {
		n := min(1+rng.IntN(7), len(s))
		parsed = append(parsed, p.Feed(s[:n])...)
		s = s[n:]
	}
	parsed = append(parsed, p.Finish()...)
	var out []engine.Event
	calls := 0
	for _, e := range parsed {
		switch e.Kind {
		case chat.EventContent:
			out = append(out, engine.Event{Kind: engine.EventText, Text: e.Text})
		case chat.EventReasoning:
			out = append(out, engine.Event{Kind: engine.EventReasoning, Text: e.Text})
		case chat.EventToolCall:
			calls++
			out = append(out, engine.Event{Kind: engine.EventToolCall, ToolCall: e.ToolCall})
		}
	}
	reason := engine.FinishStop
	if calls > 0 {
		reason = engine.FinishToolCalls
	}
	return append(out, engine.Event{Kind: engine.EventDone, FinishReason: reason, Usage: engine.Usage{PromptTokens: 3, CompletionTokens: 9}})
}

// TestChatConversion: every format's tool calls reach the client as
// structured tool_calls (stream deltas with index, id, type, name and
// arguments, and the whole message), never as marker text, and reasoning
// never leaks into content. Every chunk and body is checked against
// OpenAI's schemas.
func TestChatConversion(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for _, tc := range convertCases {
		t.Run(tc.name, func(t *testing.T) {
			for range 10 {
				checkConversion(t, tc, engineEvents(rng, tc))
			}
		})
	}
}

func checkConversion(t *testing.T, tc convertCase, events []engine.Event) {
	t.Helper()
	c := newChatChoice(0, false, true)
	out := chatOutput{id: "chatcmpl-test", created: 1, model: "m"}
	var content, reasoning strings.Builder
	var calls []FunctionCall
	chunks := []ChatChunkChoice{c.firstDelta()}
	for _, e := range events {
		if d := c.add(e); d != nil {
			chunks = append(chunks, *d)
		}
	}
	chunks = append(chunks, c.finishDelta())
	for _, ch := range chunks {
		body, _ := json.Marshal(out.chunk(ch))
		openapitest.Validate(t, "CreateChatCompletionStreamResponse", body)
		d := ch.Delta
		if d.Content != nil {
			content.WriteString(*d.Content)
		}
		reasoning.WriteString(d.ReasoningContent)
		for _, tcall := range d.ToolCalls {
			if tcall.Index == nil || *tcall.Index != len(calls) || !strings.HasPrefix(tcall.ID, "call_") || tcall.Type != "function" {
				t.Fatalf("tool call delta %+v: want index %d, an id call_…, type function", tcall, len(calls))
			}
			calls = append(calls, tcall.Function)
		}
	}
	for _, m := range markers {
		if strings.Contains(content.String(), m) {
			t.Fatalf("content %q carries the marker %q", content.String(), m)
		}
	}
	if content.String() != tc.content || reasoning.String() != tc.reasoning {
		t.Fatalf("streamed content %q reasoning %q, want %q and %q", content.String(), reasoning.String(), tc.content, tc.reasoning)
	}
	checkCalls(t, "stream", calls, tc.calls)
	if want := finishFor(tc); *chunks[len(chunks)-1].FinishReason != want {
		t.Fatalf("finish_reason %q, want %q", *chunks[len(chunks)-1].FinishReason, want)
	}
	checkMessage(t, tc, c.message())
}

// checkMessage checks the non-streamed form of the same choice.
func checkMessage(t *testing.T, tc convertCase, choice ChatChoice) {
	t.Helper()
	body, _ := json.Marshal(ChatCompletion{ID: "chatcmpl-test", Object: "chat.completion", Created: 1, Model: "m", Choices: []ChatChoice{choice}})
	openapitest.Validate(t, "CreateChatCompletionResponse", body)
	msg := choice.Message
	switch {
	case tc.content == "" && len(tc.calls) > 0 && msg.Content != nil:
		t.Fatalf("message content %q, want null for a tool-call-only answer", *msg.Content)
	case tc.content != "" && (msg.Content == nil || *msg.Content != tc.content):
		t.Fatalf("message content %v, want %q", msg.Content, tc.content)
	case msg.ReasoningContent != tc.reasoning:
		t.Fatalf("message reasoning %q, want %q", msg.ReasoningContent, tc.reasoning)
	case choice.FinishReason != finishFor(tc):
		t.Fatalf("finish_reason %q, want %q", choice.FinishReason, finishFor(tc))
	}
	var calls []FunctionCall
	for _, c := range msg.ToolCalls {
		if c.Index != nil {
			t.Fatalf("message tool call %+v has an index (stream deltas only)", c)
		}
		calls = append(calls, c.Function)
	}
	checkCalls(t, "message", calls, tc.calls)
}

func finishFor(tc convertCase) string {
	if len(tc.calls) > 0 {
		return "tool_calls"
	}
	return "stop"
}

// checkCalls compares calls, arguments as JSON values.
func checkCalls(t *testing.T, where string, got, want []FunctionCall) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tool calls %+v, want %d %+v", where, len(got), got, len(want), want)
	}
	for i := range got {
		var g, w any
		if err := json.Unmarshal([]byte(got[i].Arguments), &g); err != nil {
			t.Fatalf("%s: call %d arguments %q are not JSON: %v", where, i, got[i].Arguments, err)
		}
		_ = json.Unmarshal([]byte(want[i].Arguments), &w)
		if got[i].Name != want[i].Name || !reflect.DeepEqual(g, w) {
			t.Fatalf("%s: call %d is %+v, want %+v", where, i, got[i], want[i])
		}
	}
}

// TestChatConversionSingleCall: parallel_tool_calls false keeps the first call.
func TestChatConversionSingleCall(t *testing.T) {
	tc := convertCases[1]
	c := newChatChoice(0, false, false)
	for _, e := range engineEvents(rand.New(rand.NewPCG(1, 1)), tc) {
		c.add(e)
	}
	msg := c.message().Message
	if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "a" {
		t.Fatalf("tool calls %+v, want only the first (a)", msg.ToolCalls)
	}
}

// TestChatLogprobs: logprobs follow the events; -Inf becomes -9999, and the
// bytes are the token's UTF-8.
func TestChatLogprobs(t *testing.T) {
	c := newChatChoice(0, true, true)
	lps := []engine.TokenLogprob{{ID: 5, Text: "é", Logprob: -0.5, Top: []engine.TokenAlternative{{ID: 5, Text: "é", Logprob: -0.5}, {ID: 6, Text: "x", Logprob: math.Inf(-1)}}}}
	d := c.add(engine.Event{Kind: engine.EventText, Text: "é", Logprobs: lps})
	c.add(engine.Event{Kind: engine.EventDone, FinishReason: engine.FinishLength})
	choice := c.message()
	want := []TokenLogprob{{Token: "é", Logprob: -0.5, Bytes: []int{0xc3, 0xa9}, TopLogprobs: []TopLogprob{{"é", -0.5, []int{0xc3, 0xa9}}, {"x", -9999, []int{'x'}}}}}
	if d == nil || !reflect.DeepEqual(d.Logprobs.Content, want) || !reflect.DeepEqual(choice.Logprobs.Content, want) {
		t.Fatalf("logprobs %+v / %+v, want %+v", d, choice.Logprobs, want)
	}
	if choice.FinishReason != "length" {
		t.Fatalf("finish_reason %q, want length", choice.FinishReason)
	}
	body, _ := json.Marshal(ChatCompletion{ID: "x", Object: "chat.completion", Created: 1, Model: "m", Choices: []ChatChoice{choice}})
	openapitest.Validate(t, "CreateChatCompletionResponse", body)
	if s := fmt.Sprint(finiteLogprob(math.Inf(-1))); s != "-9999" {
		t.Fatalf("finiteLogprob(-Inf) = %s", s)
	}
}

// TestLogprobsOnDone: tokens the engine held back (a partial stop string)
// arrive with EventDone; their logprobs still reach the stream.
func TestLogprobsOnDone(t *testing.T) {
	c := newChatChoice(0, true, true)
	lps := []engine.TokenLogprob{{ID: 7, Text: "a", Logprob: -1}}
	d := c.add(engine.Event{Kind: engine.EventDone, FinishReason: engine.FinishStop, Logprobs: lps})
	if d == nil || d.Delta.Content != nil || len(d.Logprobs.Content) != 1 || d.Logprobs.Content[0].Token != "a" {
		t.Fatalf("delta %+v, want the held token's logprobs only", d)
	}
	if c.add(engine.Event{Kind: engine.EventDone}) != nil {
		t.Fatal("an EventDone without logprobs made a delta")
	}
}
