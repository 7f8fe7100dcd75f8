package api

import (
	"encoding/json"

	"github.com/lmx-app/lmx/engine"
)

// Item and response statuses.
const (
	statusInProgress = "in_progress"
	statusCompleted  = "completed"
	statusIncomplete = "incomplete"
	statusFailed     = "failed"
)

// responsesConverter turns a request's engine events into the Responses
// API's stream events and builds the Response they describe, so a streamed
// and a non-streamed answer are the same. It does no I/O; ids and the
// completion time come from its fields.
type responsesConverter struct {
	resp  Response
	seq   int
	open  any // the open *ResponseMessage or *ResponseReasoningItem, or nil
	items []any
	// newID makes item ids from a prefix; now is the Unix time.
	newID func(prefix string) string
	now   func() int64
	err   error
}

// start returns response.created and response.in_progress for resp (whose
// Output must be empty).
func (c *responsesConverter) start() []ResponseEvent {
	c.resp.Status = statusInProgress
	c.resp.Output = []any{}
	return []ResponseEvent{c.withResponse("response.created"), c.withResponse("response.in_progress")}
}

// response returns the response built so far (whole after EventDone).
func (c *responsesConverter) response() Response {
	r := c.resp
	r.Output = append([]any{}, c.items...)
	return r
}

// add converts one engine event.
func (c *responsesConverter) add(e engine.Event) []ResponseEvent {
	switch e.Kind {
	case engine.EventText:
		return c.text(e.Text)
	case engine.EventReasoning:
		return c.reasoning(e.Text)
	case engine.EventToolCall:
		return c.functionCall(e)
	case engine.EventDone:
		return c.done(e)
	}
	return nil
}

// event numbers a new event of type typ.
func (c *responsesConverter) event(typ string) ResponseEvent {
	e := ResponseEvent{Type: typ, SequenceNumber: c.seq}
	c.seq++
	return e
}

// withResponse is an event carrying a snapshot of the response.
func (c *responsesConverter) withResponse(typ string) ResponseEvent {
	e := c.event(typ)
	e.Response = snapshot(c.response())
	return e
}

// snapshot encodes v now, so later changes do not show in a sent event.
func snapshot(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("encode response event: " + err.Error()) // the wire types always encode
	}
	return b
}

// itemEvent is an event about output item index with the item's snapshot.
func (c *responsesConverter) itemEvent(typ string, index int) ResponseEvent {
	e := c.event(typ)
	e.OutputIndex, e.Item = &index, snapshot(c.items[index])
	return e
}

// partEvent is an event about content part 0 of the open item.
func (c *responsesConverter) partEvent(typ, itemID string) ResponseEvent {
	e := c.event(typ)
	index, zero := len(c.items)-1, 0
	e.ItemID, e.OutputIndex, e.ContentIndex = itemID, &index, &zero
	return e
}

// addItem appends an output item and returns its output_item.added.
func (c *responsesConverter) addItem(item any) ResponseEvent {
	c.items = append(c.items, item)
	return c.itemEvent("response.output_item.added", len(c.items)-1)
}

// text appends a delta to the open message, opening one first if needed.
func (c *responsesConverter) text(delta string) []ResponseEvent {
	if delta == "" {
		return nil
	}
	var evs []ResponseEvent
	m, ok := c.open.(*ResponseMessage)
	if !ok {
		evs = c.closeOpen(statusCompleted)
		m = &ResponseMessage{Type: "message", ID: c.newID("msg_"), Status: statusInProgress, Role: "assistant", Content: []ResponseOutputText{}}
		evs = append(evs, c.addItem(m))
		c.open = m
		m.Content = append(m.Content, outputText(""))
		added := c.partEvent("response.content_part.added", m.ID)
		added.Part = snapshot(m.Content[0])
		evs = append(evs, added)
	}
	m.Content[0].Text += delta
	d := c.partEvent("response.output_text.delta", m.ID)
	d.Delta, d.Logprobs = &delta, &[]any{}
	return append(evs, d)
}

// outputText is an output_text part.
func outputText(text string) ResponseOutputText {
	return ResponseOutputText{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
}

// reasoning appends a delta to the open reasoning item, opening one first.
func (c *responsesConverter) reasoning(delta string) []ResponseEvent {
	if delta == "" {
		return nil
	}
	var evs []ResponseEvent
	r, ok := c.open.(*ResponseReasoningItem)
	if !ok {
		evs = c.closeOpen(statusCompleted)
		r = &ResponseReasoningItem{Type: "reasoning", ID: c.newID("rs_"), Status: statusInProgress, Summary: []any{}, Content: []ResponseReasoningText{}}
		evs = append(evs, c.addItem(r))
		c.open = r
		r.Content = append(r.Content, ResponseReasoningText{Type: "reasoning_text"})
		added := c.partEvent("response.content_part.added", r.ID)
		added.Part = snapshot(r.Content[0])
		evs = append(evs, added)
	}
	r.Content[0].Text += delta
	d := c.partEvent("response.reasoning_text.delta", r.ID)
	d.Delta = &delta
	return append(evs, d)
}

// closeOpen finishes the open message or reasoning item with status.
func (c *responsesConverter) closeOpen(status string) []ResponseEvent {
	var evs []ResponseEvent
	switch it := c.open.(type) {
	case *ResponseMessage:
		it.Status = status
		done := c.partEvent("response.output_text.done", it.ID)
		done.Text, done.Logprobs = &it.Content[0].Text, &[]any{}
		part := c.partEvent("response.content_part.done", it.ID)
		part.Part = snapshot(it.Content[0])
		evs = []ResponseEvent{done, part}
	case *ResponseReasoningItem:
		it.Status = status
		done := c.partEvent("response.reasoning_text.done", it.ID)
		done.Text = &it.Content[0].Text
		part := c.partEvent("response.content_part.done", it.ID)
		part.Part = snapshot(it.Content[0])
		evs = []ResponseEvent{done, part}
	default:
		return nil
	}
	c.open = nil
	return append(evs, c.itemEvent("response.output_item.done", len(c.items)-1))
}

// functionCall turns a complete tool call into a function_call item: added
// with empty arguments, the arguments as one delta, done.
func (c *responsesConverter) functionCall(e engine.Event) []ResponseEvent {
	evs := c.closeOpen(statusCompleted)
	call := e.ToolCall
	fc := &ResponseFunctionCall{Type: "function_call", ID: c.newID("fc_"), Status: statusInProgress, CallID: call.ID, Name: call.Function.Name}
	evs = append(evs, c.addItem(fc))
	args := call.Function.Arguments
	index := len(c.items) - 1
	d := c.event("response.function_call_arguments.delta")
	d.ItemID, d.OutputIndex, d.Delta = fc.ID, &index, &args
	fc.Arguments, fc.Status = args, statusCompleted
	done := c.event("response.function_call_arguments.done")
	done.ItemID, done.OutputIndex, done.Arguments, done.Name = fc.ID, &index, &args, fc.Name
	return append(evs, d, done, c.itemEvent("response.output_item.done", index))
}

// done finishes the response: completed, incomplete (max_output_tokens) or
// failed, with the usage.
func (c *responsesConverter) done(e engine.Event) []ResponseEvent {
	final, status := "response.completed", statusCompleted
	switch {
	case e.Err != nil:
		c.err = e.Err
		final, status = "response.failed", statusFailed
		c.resp.Error = &ResponseError{Code: "server_error", Message: e.Err.Error()}
	case e.FinishReason == engine.FinishLength:
		final, status = "response.incomplete", statusIncomplete
		c.resp.IncompleteDetails = &IncompleteDetails{Reason: "max_output_tokens"}
	}
	itemStatus := status
	if status == statusFailed {
		itemStatus = statusIncomplete // items have no failed status
	}
	evs := c.closeOpen(itemStatus)
	c.resp.Status = status
	if status == statusCompleted {
		t := c.now()
		c.resp.CompletedAt = &t
	}
	u := e.Usage
	c.resp.Usage = &ResponseUsage{
		InputTokens: u.PromptTokens, InputTokensDetails: InputTokensDetails{CachedTokens: u.CachedTokens},
		OutputTokens: u.CompletionTokens, TotalTokens: u.PromptTokens + u.CompletionTokens,
	}
	return append(evs, c.withResponse(final))
}
