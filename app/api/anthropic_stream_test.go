package api

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine"
)

// replayMessage rebuilds the message a client assembles from the events,
// checking Anthropic's event grammar on the way: message_start, then blocks
// each opened, extended at its own index and stopped before the next opens,
// one ping after the first block start, message_delta and message_stop last.
func replayMessage(t *testing.T, evs []AnthropicEvent) MessageResponse {
	t.Helper()
	if len(evs) < 3 || evs[0].Type != evMessageStart || evs[len(evs)-1].Type != evMessageStop || evs[len(evs)-2].Type != evMessageDelta {
		t.Fatalf("stream %v: want message_start ... message_delta, message_stop", eventTypes(evs))
	}
	msg := *evs[0].Message
	open, pings := -1, 0
	var partial []string
	for i, e := range evs[1 : len(evs)-2] {
		switch e.Type {
		case evPing:
			pings++
			if prev := evs[i]; prev.Type != evBlockStart && i+1 != len(evs)-3 {
				t.Errorf("ping after %s, want right after the first content_block_start", prev.Type)
			}
		case evBlockStart:
			if open != -1 || *e.Index != len(msg.Content) {
				t.Fatalf("content_block_start %d while block %d is open (%d blocks)", *e.Index, open, len(msg.Content))
			}
			open = *e.Index
			msg.Content = append(msg.Content, *e.ContentBlock)
			partial = append(partial, "")
		case evBlockDelta:
			if *e.Index != open {
				t.Fatalf("delta for block %d while %d is open", *e.Index, open)
			}
			applyDelta(t, &msg.Content[open], &partial[open], e.Delta.(*BlockDelta))
		case evBlockStop:
			if *e.Index != open {
				t.Fatalf("content_block_stop %d while %d is open", *e.Index, open)
			}
			if b := &msg.Content[open]; b.Type == "tool_use" {
				b.Input = json.RawMessage(partial[open])
			}
			open = -1
		default:
			t.Fatalf("unexpected %s event inside the message", e.Type)
		}
	}
	if open != -1 || pings != 1 {
		t.Errorf("block %d left open, %d pings; want none open, 1 ping", open, pings)
	}
	d := evs[len(evs)-2]
	md := d.Delta.(*MessageDelta)
	msg.StopReason, msg.StopSequence, msg.Usage = md.StopReason, md.StopSequence, *d.Usage
	return msg
}

// applyDelta extends block b with one content_block_delta.
func applyDelta(t *testing.T, b *ContentBlock, partialJSON *string, d *BlockDelta) {
	t.Helper()
	switch {
	case d.Type == "text_delta" && b.Type == "text":
		s := *b.Text + *d.Text
		b.Text = &s
	case d.Type == "thinking_delta" && b.Type == "thinking":
		s := *b.Thinking + *d.Thinking
		b.Thinking = &s
	case d.Type == "input_json_delta" && b.Type == "tool_use":
		*partialJSON += *d.PartialJSON
	default:
		t.Fatalf("%s for a %s block", d.Type, b.Type)
	}
}

func eventTypes(evs []AnthropicEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// TestAnthropicEventsFromParsedOutput: model output of every tool-call
// format, parsed by the engine's real parser in random chunks, reaches an
// Anthropic client as tool_use blocks with input_json_delta, thinking as
// thinking blocks, never as marker text in a text block; the streamed and
// the whole message agree.
func TestAnthropicEventsFromParsedOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	for _, c := range convertCases {
		t.Run(c.name, func(t *testing.T) {
			for range 10 {
				conv := newAnthropicConverter("msg_1", "m", 3)
				evs := conv.start()
				for _, e := range engineEvents(rng, c) {
					evs = append(evs, conv.add(e)...)
				}
				got := replayMessage(t, evs)
				want := conv.message()
				if mustJSON(t, got) != mustJSON(t, want) {
					t.Fatalf("streamed message\n%s\nnon-streamed\n%s", mustJSON(t, got), mustJSON(t, want))
				}
				checkAnthropicMessage(t, c, want)
			}
		})
	}
}

// checkAnthropicMessage compares a message with what the output means.
func checkAnthropicMessage(t *testing.T, c convertCase, m MessageResponse) {
	t.Helper()
	var text, thinking strings.Builder
	var calls []FunctionCall
	for _, b := range m.Content {
		switch b.Type {
		case "text":
			text.WriteString(*b.Text)
		case "thinking":
			thinking.WriteString(*b.Thinking)
		case "tool_use":
			if b.ID == "" || !strings.HasPrefix(string(b.Input), "{") {
				t.Errorf("tool_use block %+v: want an id and an input object", b)
			}
			calls = append(calls, FunctionCall{Name: b.Name, Arguments: string(b.Input)})
		}
	}
	for _, mk := range markers {
		if strings.Contains(text.String(), mk) {
			t.Errorf("text %q contains %q", text.String(), mk)
		}
	}
	if text.String() != c.content || thinking.String() != c.reasoning {
		t.Errorf("text %q thinking %q, want %q and %q", text.String(), thinking.String(), c.content, c.reasoning)
	}
	checkCalls(t, "tool_use", calls, c.calls)
	wantStop := stopEndTurn
	if len(c.calls) > 0 {
		wantStop = stopToolUse
	}
	if m.StopReason == nil || *m.StopReason != wantStop {
		t.Errorf("stop_reason %v, want %s", m.StopReason, wantStop)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAnthropicStopReasonsAndUsage(t *testing.T) {
	cases := []struct {
		done     engine.Event
		reason   string
		sequence *string
	}{
		{engine.Event{FinishReason: engine.FinishStop}, stopEndTurn, nil},
		{engine.Event{FinishReason: engine.FinishStop, StopSequence: "END"}, stopSequence, refOf("END")},
		{engine.Event{FinishReason: engine.FinishLength}, stopMaxTokens, nil},
		{engine.Event{FinishReason: engine.FinishToolCalls}, stopToolUse, nil},
	}
	for _, c := range cases {
		conv := newAnthropicConverter("msg_1", "m", 10)
		c.done.Kind = engine.EventDone
		c.done.Usage = engine.Usage{PromptTokens: 10, CompletionTokens: 4, CachedTokens: 3}
		evs := conv.add(c.done)
		m := conv.message()
		if *m.StopReason != c.reason || !reflect.DeepEqual(m.StopSequence, c.sequence) {
			t.Errorf("%+v: stop %s %v, want %s %v", c.done, *m.StopReason, m.StopSequence, c.reason, c.sequence)
		}
		want := AnthropicUsage{InputTokens: 7, OutputTokens: 4, CacheReadInputTokens: 3}
		if m.Usage != want || *evs[len(evs)-2].Usage != want {
			t.Errorf("usage %+v, want %+v", m.Usage, want)
		}
	}
}

func refOf[T any](v T) *T { return &v }
