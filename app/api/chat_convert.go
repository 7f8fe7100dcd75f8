package api

import (
	"math"
	"strings"

	"github.com/lmx-app/lmx/engine"
)

// chatChoice turns one generation's engine events into OpenAI chat stream
// deltas and, at the end, the whole message. It does no I/O: the handlers
// write what it returns, and tests feed it event sequences directly.
type chatChoice struct {
	index int
	// logprobs: the request asked for them.
	logprobs bool
	// single: parallel_tool_calls is false, so only the first call is kept.
	single bool

	text, reasoning strings.Builder
	calls           []ToolCallOut
	tokens          []TokenLogprob
	done            engine.Event
}

// newChatChoice starts choice index of a request.
func newChatChoice(index int, logprobs, parallelCalls bool) *chatChoice {
	return &chatChoice{index: index, logprobs: logprobs, single: !parallelCalls}
}

// add consumes one event and returns the stream delta it makes, or nil when
// it makes none (the finish reason comes after EventDone: see finishDelta).
func (c *chatChoice) add(e engine.Event) *ChatChunkChoice {
	lps := c.addLogprobs(e.Logprobs)
	var d ChatDelta
	switch e.Kind {
	case engine.EventText:
		c.text.WriteString(e.Text)
		d.Content = &e.Text
	case engine.EventReasoning:
		c.reasoning.WriteString(e.Text)
		d.ReasoningContent = e.Text
	case engine.EventToolCall:
		if c.single && len(c.calls) > 0 {
			return nil
		}
		call := toolCallOut(e.ToolCall.ID, e.ToolCall.Function.Name, e.ToolCall.Function.Arguments)
		c.calls = append(c.calls, call)
		idx := len(c.calls) - 1
		call.Index = &idx
		d.ToolCalls = []ToolCallOut{call}
	case engine.EventDone:
		c.done = e // its delta, if any, carries the last tokens' logprobs
	}
	if d.Content == nil && d.ReasoningContent == "" && d.ToolCalls == nil && lps == nil {
		return nil
	}
	return &ChatChunkChoice{Index: c.index, Delta: d, Logprobs: lps}
}

// addLogprobs records the tokens of an event and returns their stream form
// (nil when logprobs were not asked for or the event carries none).
func (c *chatChoice) addLogprobs(lps []engine.TokenLogprob) *ChatLogprobs {
	if !c.logprobs || len(lps) == 0 {
		return nil
	}
	out := chatLogprobs(lps)
	c.tokens = append(c.tokens, out...)
	return &ChatLogprobs{Content: out}
}

// firstDelta is a choice's first chunk: the role, as OpenAI sends it.
func (c *chatChoice) firstDelta() ChatChunkChoice {
	empty := ""
	return ChatChunkChoice{Index: c.index, Delta: ChatDelta{Role: "assistant", Content: &empty}}
}

// finishDelta is a choice's last chunk: an empty delta with the finish reason.
func (c *chatChoice) finishDelta() ChatChunkChoice {
	reason := c.finishReason()
	return ChatChunkChoice{Index: c.index, Delta: ChatDelta{}, FinishReason: &reason}
}

// finishReason is OpenAI's finish reason for the ended generation.
func (c *chatChoice) finishReason() string {
	if len(c.calls) > 0 {
		return engine.FinishToolCalls
	}
	if c.done.FinishReason == engine.FinishLength {
		return engine.FinishLength
	}
	return engine.FinishStop
}

// message is the whole choice of a non-streamed response.
func (c *chatChoice) message() ChatChoice {
	msg := ChatMessageOut{Role: "assistant", ReasoningContent: c.reasoning.String(), ToolCalls: c.calls}
	if text := c.text.String(); text != "" || len(c.calls) == 0 {
		msg.Content = &text
	}
	choice := ChatChoice{Index: c.index, Message: msg, FinishReason: c.finishReason()}
	if c.logprobs {
		choice.Logprobs = &ChatLogprobs{Content: c.tokens}
		if choice.Logprobs.Content == nil {
			choice.Logprobs.Content = []TokenLogprob{}
		}
	}
	return choice
}

// toolCallOut is a tool call on the wire.
func toolCallOut(id, name, args string) ToolCallOut {
	return ToolCallOut{ID: id, Type: "function", Function: FunctionCall{Name: name, Arguments: args}}
}

// chatLogprobs converts engine logprobs to the chat shape.
func chatLogprobs(lps []engine.TokenLogprob) []TokenLogprob {
	out := make([]TokenLogprob, len(lps))
	for i, lp := range lps {
		top := make([]TopLogprob, len(lp.Top))
		for j, a := range lp.Top {
			top[j] = TopLogprob{Token: a.Text, Logprob: finiteLogprob(a.Logprob), Bytes: tokenBytes(a.Text)}
		}
		out[i] = TokenLogprob{Token: lp.Text, Logprob: finiteLogprob(lp.Logprob), Bytes: tokenBytes(lp.Text), TopLogprobs: top}
	}
	return out
}

// finiteLogprob maps -Inf (and NaN) to -9999, the value OpenAI documents
// for very unlikely tokens; JSON has no infinities.
func finiteLogprob(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return -9999
	}
	return v
}

// tokenBytes is a token's UTF-8 bytes as OpenAI lists them.
func tokenBytes(s string) []int {
	out := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int(s[i])
	}
	return out
}

// completionLogprobs converts engine logprobs to the legacy completion
// shape; offset is where the first token starts in the choice's text.
func completionLogprobs(lps []engine.TokenLogprob, offset int) *CompletionLogprobs {
	out := &CompletionLogprobs{Tokens: []string{}, TokenLogprobs: []float64{}, TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
	for _, lp := range lps {
		out.Tokens = append(out.Tokens, lp.Text)
		out.TokenLogprobs = append(out.TokenLogprobs, finiteLogprob(lp.Logprob))
		top := make(map[string]float64, len(lp.Top))
		for _, a := range lp.Top {
			top[a.Text] = finiteLogprob(a.Logprob)
		}
		out.TopLogprobs = append(out.TopLogprobs, top)
		out.TextOffset = append(out.TextOffset, offset)
		offset += len(lp.Text)
	}
	return out
}
