package api

import (
	"github.com/lmx-app/lmx/engine"
)

// Event names of a streamed message, in the order Anthropic sends them.
const (
	evMessageStart = "message_start"
	evBlockStart   = "content_block_start"
	evPing         = "ping"
	evBlockDelta   = "content_block_delta"
	evBlockStop    = "content_block_stop"
	evMessageDelta = "message_delta"
	evMessageStop  = "message_stop"
	evError        = "error"
)

// anthropicConverter turns a request's engine events into the events of a
// streamed message and gathers the message they describe, so a streamed and
// a non-streamed answer are the same. It does no I/O.
type anthropicConverter struct {
	msg    MessageResponse
	open   string // type of the open content block, "" when none
	pinged bool
	err    error
}

// newAnthropicConverter starts message id of model for a prompt of
// inputTokens tokens.
func newAnthropicConverter(id, model string, inputTokens int) *anthropicConverter {
	return &anthropicConverter{msg: MessageResponse{
		ID: id, Type: anthropicMsgType, Role: "assistant", Model: model,
		Content: []ContentBlock{}, Usage: AnthropicUsage{InputTokens: inputTokens},
	}}
}

// start returns the message_start event.
func (c *anthropicConverter) start() []AnthropicEvent {
	m := c.msg
	m.Content = []ContentBlock{}
	return []AnthropicEvent{{Type: evMessageStart, Message: &m}}
}

// add converts one engine event. Text and reasoning deltas extend the open
// block of their kind or close it and open a new one; a tool call is a whole
// tool_use block; EventDone closes the message (or reports its error).
func (c *anthropicConverter) add(e engine.Event) []AnthropicEvent {
	switch e.Kind {
	case engine.EventText:
		return c.delta("text", e.Text)
	case engine.EventReasoning:
		return c.delta("thinking", e.Text)
	case engine.EventToolCall:
		return c.toolUse(e)
	case engine.EventDone:
		return c.done(e)
	}
	return nil
}

// message returns the message gathered so far (whole after EventDone).
func (c *anthropicConverter) message() MessageResponse { return c.msg }

// delta appends text to a text or thinking block.
func (c *anthropicConverter) delta(typ, text string) []AnthropicEvent {
	if text == "" {
		return nil
	}
	var evs []AnthropicEvent
	if c.open != typ {
		evs = c.closeBlock()
		evs = append(evs, c.openBlock(newBlock(typ), newBlock(typ))...)
	}
	i := len(c.msg.Content) - 1
	b := &c.msg.Content[i]
	d := &BlockDelta{Type: typ + "_delta"}
	if typ == "text" {
		*b.Text += text
		d.Text = &text
	} else {
		*b.Thinking += text
		d.Thinking = &text
	}
	return append(evs, AnthropicEvent{Type: evBlockDelta, Index: &i, Delta: d})
}

// newBlock is an empty text or thinking block.
func newBlock(typ string) ContentBlock {
	empty, sig := "", ""
	if typ == "text" {
		return ContentBlock{Type: typ, Text: &empty}
	}
	return ContentBlock{Type: typ, Thinking: &empty, Signature: &sig}
}

// openBlock appends b to the message and returns the content_block_start
// announcing it as start (and, after the first one, the ping Anthropic sends
// there).
func (c *anthropicConverter) openBlock(b, start ContentBlock) []AnthropicEvent {
	i := len(c.msg.Content)
	c.msg.Content = append(c.msg.Content, b)
	c.open = b.Type
	evs := []AnthropicEvent{{Type: evBlockStart, Index: &i, ContentBlock: &start}}
	return append(evs, c.ping()...)
}

// ping returns the one ping event of a stream, the first time it is called.
func (c *anthropicConverter) ping() []AnthropicEvent {
	if c.pinged {
		return nil
	}
	c.pinged = true
	return []AnthropicEvent{{Type: evPing}}
}

// closeBlock returns the content_block_stop of the open block, if any.
func (c *anthropicConverter) closeBlock() []AnthropicEvent {
	if c.open == "" {
		return nil
	}
	c.open = ""
	i := len(c.msg.Content) - 1
	return []AnthropicEvent{{Type: evBlockStop, Index: &i}}
}

// toolUse turns a complete tool call into a tool_use block: start with an
// empty input, the arguments as one input_json_delta, stop.
func (c *anthropicConverter) toolUse(e engine.Event) []AnthropicEvent {
	call := e.ToolCall
	evs := c.closeBlock()
	args := call.Function.Arguments
	if args == "" {
		args = "{}"
	}
	b := ContentBlock{Type: "tool_use", ID: call.ID, Name: call.Function.Name, Input: []byte(args)}
	start := b
	start.Input = []byte("{}")
	evs = append(evs, c.openBlock(b, start)...)
	i := len(c.msg.Content) - 1
	evs = append(evs, AnthropicEvent{Type: evBlockDelta, Index: &i, Delta: &BlockDelta{Type: "input_json_delta", PartialJSON: &args}})
	return append(evs, c.closeBlock()...)
}

// done closes the message: message_delta with the stop reason and usage,
// then message_stop; or an error event when generation failed.
func (c *anthropicConverter) done(e engine.Event) []AnthropicEvent {
	if e.Err != nil {
		c.err = e.Err
		return []AnthropicEvent{{Type: evError, Error: anthropicErrorOf(e.Err)}}
	}
	evs := append(c.closeBlock(), c.ping()...)
	reason := anthropicStopReason(e)
	c.msg.StopReason = &reason
	if e.StopSequence != "" {
		seq := e.StopSequence
		c.msg.StopSequence = &seq
	}
	c.msg.Usage = anthropicUsage(e.Usage)
	u := c.msg.Usage
	evs = append(evs, AnthropicEvent{Type: evMessageDelta,
		Delta: &MessageDelta{StopReason: c.msg.StopReason, StopSequence: c.msg.StopSequence}, Usage: &u})
	return append(evs, AnthropicEvent{Type: evMessageStop})
}

// anthropicStopReason maps the engine's finish reason.
func anthropicStopReason(e engine.Event) string {
	switch {
	case e.FinishReason == engine.FinishToolCalls:
		return stopToolUse
	case e.FinishReason == engine.FinishLength:
		return stopMaxTokens
	case e.StopSequence != "":
		return stopSequence
	}
	return stopEndTurn
}

// anthropicUsage reports cached prompt tokens apart, as Anthropic does.
func anthropicUsage(u engine.Usage) AnthropicUsage {
	return AnthropicUsage{
		InputTokens:          u.PromptTokens - u.CachedTokens,
		OutputTokens:         u.CompletionTokens,
		CacheReadInputTokens: u.CachedTokens,
	}
}
