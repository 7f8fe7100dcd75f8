package api

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/internal/openapitest"
)

// testConverter is a converter with predictable ids and clock.
func testConverter() *responsesConverter {
	n := 0
	req := &ResponseRequest{Model: "m"}
	return &responsesConverter{
		resp:  newResponse("resp_test", req),
		newID: func(prefix string) string { n++; return fmt.Sprintf("%s%d", prefix, n) },
		now:   func() int64 { return 1700000000 },
	}
}

// replayOutput checks the stream's grammar (numbered from 0, created and
// in_progress first, one final event, every item added before its deltas
// and done after them) and returns the output items a client rebuilds from
// it, each as its output_item.done JSON, plus the final response.
func replayOutput(t *testing.T, evs []ResponseEvent) (items []json.RawMessage, final json.RawMessage) {
	t.Helper()
	if len(evs) < 3 || evs[0].Type != "response.created" || evs[1].Type != "response.in_progress" {
		t.Fatalf("stream starts %s, want response.created, response.in_progress", evs[0].Type)
	}
	deltas := map[string]*strings.Builder{}
	for i, e := range evs {
		body := mustJSON(t, e)
		openapitest.Validate(t, "ResponseStreamEvent", []byte(body))
		if e.SequenceNumber != i {
			t.Fatalf("event %d has sequence_number %d", i, e.SequenceNumber)
		}
		switch e.Type {
		case "response.output_item.added":
			if *e.OutputIndex != len(items) {
				t.Fatalf("item added at %d, want %d", *e.OutputIndex, len(items))
			}
			items = append(items, nil)
		case "response.output_text.delta", "response.reasoning_text.delta", "response.function_call_arguments.delta":
			if *e.OutputIndex != len(items)-1 || items[len(items)-1] != nil {
				t.Fatalf("%s for item %d, open item is %d", e.Type, *e.OutputIndex, len(items)-1)
			}
			b := deltas[e.ItemID]
			if b == nil {
				b = &strings.Builder{}
				deltas[e.ItemID] = b
			}
			b.WriteString(*e.Delta)
		case "response.output_text.done", "response.reasoning_text.done":
			if *e.Text != deltas[e.ItemID].String() {
				t.Errorf("%s text %q, deltas say %q", e.Type, *e.Text, deltas[e.ItemID].String())
			}
		case "response.function_call_arguments.done":
			if *e.Arguments != deltas[e.ItemID].String() {
				t.Errorf("arguments %q, deltas say %q", *e.Arguments, deltas[e.ItemID].String())
			}
		case "response.output_item.done":
			items[*e.OutputIndex] = e.Item
		case "response.completed", "response.incomplete", "response.failed":
			if i != len(evs)-1 {
				t.Fatalf("%s at %d of %d events", e.Type, i, len(evs))
			}
			final = e.Response
		}
	}
	return items, final
}

// TestResponsesEventsFromParsedOutput: model output of every tool-call
// format, parsed by the engine's real parser in random chunks, reaches a
// Responses client as function_call items with argument events, reasoning
// as reasoning items, never as marker text in a message; every event and
// the response are valid against OpenAI's schemas; the streamed and the
// whole response agree.
func TestResponsesEventsFromParsedOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 13))
	for _, c := range convertCases {
		t.Run(c.name, func(t *testing.T) {
			for range 5 {
				conv := testConverter()
				evs := conv.start()
				for _, e := range engineEvents(rng, c) {
					evs = append(evs, conv.add(e)...)
				}
				items, final := replayOutput(t, evs)
				whole := mustJSON(t, conv.response())
				openapitest.Validate(t, "Response", []byte(whole))
				if string(final) != whole {
					t.Fatalf("response.completed carries\n%s\nthe whole response is\n%s", final, whole)
				}
				checkResponseOutput(t, c, items)
			}
		})
	}
}

// checkResponseOutput compares output items with what the output means.
func checkResponseOutput(t *testing.T, c convertCase, items []json.RawMessage) {
	t.Helper()
	var text, reasoning strings.Builder
	var calls []FunctionCall
	for _, raw := range items {
		var it struct {
			Type, CallID, Name, Arguments, Status string
			Content                               []struct{ Type, Text string }
		}
		if err := json.Unmarshal(raw, &it); err != nil {
			t.Fatal(err)
		}
		if it.Status != statusCompleted {
			t.Errorf("item %s has status %q, want completed", raw, it.Status)
		}
		switch it.Type {
		case "message":
			text.WriteString(it.Content[0].Text)
		case "reasoning":
			reasoning.WriteString(it.Content[0].Text)
		case "function_call":
			calls = append(calls, FunctionCall{Name: it.Name, Arguments: it.Arguments})
		}
	}
	for _, mk := range markers {
		if strings.Contains(text.String(), mk) {
			t.Errorf("message text %q contains %q", text.String(), mk)
		}
	}
	if text.String() != c.content || reasoning.String() != c.reasoning {
		t.Errorf("text %q reasoning %q, want %q and %q", text.String(), reasoning.String(), c.content, c.reasoning)
	}
	checkCalls(t, "function_call", calls, c.calls)
}

func TestResponsesFinalStatus(t *testing.T) {
	cases := []struct {
		done          engine.Event
		event, status string
	}{
		{engine.Event{FinishReason: engine.FinishStop}, "response.completed", statusCompleted},
		{engine.Event{FinishReason: engine.FinishLength}, "response.incomplete", statusIncomplete},
		{engine.Event{FinishReason: engine.FinishError, Err: fmt.Errorf("metal: out of memory")}, "response.failed", statusFailed},
	}
	for _, c := range cases {
		conv := testConverter()
		evs := append(conv.start(), conv.add(engine.Event{Kind: engine.EventText, Text: "Once"})...)
		c.done.Kind = engine.EventDone
		c.done.Usage = engine.Usage{PromptTokens: 5, CompletionTokens: 2}
		evs = append(evs, conv.add(c.done)...)
		_, final := replayOutput(t, evs)
		resp := conv.response()
		openapitest.Validate(t, "Response", final)
		if evs[len(evs)-1].Type != c.event || resp.Status != c.status || resp.Usage.TotalTokens != 7 {
			t.Errorf("%s: last event %s status %s usage %+v, want %s %s total 7", c.done.FinishReason, evs[len(evs)-1].Type, resp.Status, resp.Usage, c.event, c.status)
		}
		if (c.status == statusCompleted) != (resp.CompletedAt != nil) {
			t.Errorf("%s: completed_at %v", c.status, resp.CompletedAt)
		}
	}
}
