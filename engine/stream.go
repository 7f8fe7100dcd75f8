package engine

import (
	"context"
	"strings"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/tokenizer"
	"github.com/lmx-app/lmx/internal/safe"
)

// streamBuffer is how many events a stream holds before generation waits for
// its reader.
const streamBuffer = 64

// Stream is a running request's output. A reader reads Events until the
// channel is closed, also after giving up: cancelling the request's context
// ends generation within one decode step, drops the events still to come
// and then delivers EventDone (with the usage so far) before closing.
type Stream struct {
	// Prompt is the rendered, tokenized request.
	Prompt *Prompt
	events chan Event
}

// Events returns the event channel; it is closed after EventDone.
func (s *Stream) Events() <-chan Event { return s.events }

// start validates the request and runs it in the background.
func (m *Model) start(ctx context.Context, p *Prompt, params Params) (*Stream, error) {
	m.mu.RLock()
	closed := m.m == nil
	m.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	budget, err := m.check(p, params)
	if err != nil {
		return nil, err
	}
	// Compiled before the request is queued, so a bad schema is refused
	// with its reason.
	c, err := m.constraint(p, params)
	if err != nil {
		return nil, err
	}
	s := &Stream{Prompt: p, events: make(chan Event, streamBuffer)}
	req := Request{Request: generate.Request{
		Prompt: p.IDs, MaxTokens: budget, Sampling: params.Sampling,
		Logprobs: params.Logprobs || params.TopLogprobs > 0, TopLogprobs: params.TopLogprobs,
	}, IgnoreEOS: params.IgnoreEOS}
	if c != nil {
		req.Constraint = c
	}
	o := m.newOutput(ctx, p, params, s.events)
	go func() {
		defer close(s.events)
		var res *generate.Result
		// A panic while detokenizing or parsing ends this request with an
		// error (logged with its stack); the process and the batch go on.
		err := safe.Call("generation output", func() error {
			var err error
			res, err = m.Generate(ctx, req, o.token)
			return err
		})
		if c != nil {
			c.Close()
		}
		if _, panicked := err.(*safe.PanicError); panicked {
			o.events <- Event{Kind: EventDone, Err: err, FinishReason: finishReason(nil, err, 0)}
			return
		}
		o.finish(res, err)
	}()
	return s, nil
}

// output turns generated tokens into events: detokenize, cut at stop strings,
// split content, reasoning and tool calls. Its token method runs on the MLX
// thread, inside generation.
type output struct {
	ctx      context.Context
	tok      *tokenizer.Tokenizer
	dec      *tokenizer.StreamDecoder
	stop     stopFilter
	parser   *chat.Parser // nil for completions
	logprobs bool
	pending  []TokenLogprob
	calls    int
	events   chan<- Event
}

func (m *Model) newOutput(ctx context.Context, p *Prompt, params Params, events chan<- Event) *output {
	o := &output{ctx: ctx, tok: m.text.tok, stop: stopFilter{stops: nonEmpty(params.Stop)},
		logprobs: params.Logprobs || params.TopLogprobs > 0, events: events}
	if o.tok != nil {
		o.dec = o.tok.NewStreamDecoder(true)
	}
	if p.chat {
		o.parser = chat.NewParser(p.format, chat.Options{Thinking: p.thinking, StartInReasoning: p.opened})
	}
	return o
}

// token handles one generated token; it returns true to stop (a stop string
// was reached or the reader went away).
func (o *output) token(t generate.Token) bool {
	safe.Point("engine.output")
	if o.logprobs {
		o.pending = append(o.pending, o.tokenLogprob(t))
	}
	if o.dec == nil {
		return o.ctx.Err() != nil
	}
	text, hit := o.stop.add(o.dec.Add(t.ID))
	o.emitText(text)
	return hit || o.ctx.Err() != nil
}

// tokenLogprob describes t for the logprobs of an event.
func (o *output) tokenLogprob(t generate.Token) TokenLogprob {
	lp := TokenLogprob{ID: t.ID, Logprob: t.Logprob, Text: o.tokenText(t.ID)}
	for _, a := range t.Top {
		lp.Top = append(lp.Top, TokenAlternative{ID: a.ID, Logprob: a.Logprob, Text: o.tokenText(a.ID)})
	}
	return lp
}

func (o *output) tokenText(id int32) string {
	if o.tok == nil {
		return ""
	}
	return o.tok.TokenText(id)
}

// emitText sends text through the parser (chat) or as it is (completion).
func (o *output) emitText(text string) {
	if o.parser == nil {
		if text != "" {
			o.send(Event{Kind: EventText, Text: text})
		}
		return
	}
	if text != "" {
		o.sendParsed(o.parser.Feed(text))
	}
}

// sendParsed sends the parser's events.
func (o *output) sendParsed(evs []chat.Event) {
	for _, e := range evs {
		switch e.Kind {
		case chat.EventContent:
			o.send(Event{Kind: EventText, Text: e.Text})
		case chat.EventReasoning:
			o.send(Event{Kind: EventReasoning, Text: e.Text})
		case chat.EventToolCall:
			o.calls++
			o.send(Event{Kind: EventToolCall, ToolCall: e.ToolCall})
		}
	}
}

// send delivers e with the logprobs gathered since the last event, unless
// the reader has gone away.
func (o *output) send(e Event) {
	if len(o.pending) > 0 {
		e.Logprobs, o.pending = o.pending, nil
	}
	select {
	case o.events <- e:
	case <-o.ctx.Done():
	}
}

// finish flushes held text and sends EventDone.
func (o *output) finish(res *generate.Result, err error) {
	if o.dec != nil && err == nil {
		text, _ := o.stop.add(o.dec.Flush())
		o.emitText(text + o.stop.flush())
	}
	if o.parser != nil && err == nil {
		o.sendParsed(o.parser.Finish())
	}
	done := Event{Kind: EventDone, Err: err}
	if res != nil {
		done.Usage = Usage{PromptTokens: res.PromptTokens, CompletionTokens: len(res.Tokens),
			CachedTokens: res.CachedTokens, CacheExplain: res.Cache.Explain()}
		done.Timing = Timing{Prefill: res.PrefillTime, Decode: res.DecodeTime}
	}
	done.FinishReason = finishReason(res, err, o.calls)
	if done.FinishReason == FinishStop {
		done.StopSequence = o.stop.matched
	}
	if len(o.pending) > 0 {
		done.Logprobs, o.pending = o.pending, nil
	}
	// Delivered even after a cancel: the reader drains to the end, and the
	// usage belongs in its log.
	o.events <- done
}

// finishReason maps a generation result to the API's finish reason.
func finishReason(res *generate.Result, err error, calls int) string {
	switch {
	case err != nil:
		return FinishError
	case calls > 0:
		return FinishToolCalls
	case res.FinishReason == generate.FinishLength:
		return FinishLength
	}
	return FinishStop
}

// stopFilter cuts the output at the first stop string. Text that could be
// the start of a stop string is held back until the next delta decides.
type stopFilter struct {
	stops   []string
	held    string
	hit     bool
	matched string // the stop string found
}

// add takes the next delta and returns the text that is certainly output,
// and whether a stop string was found (nothing after it is output).
func (f *stopFilter) add(delta string) (string, bool) {
	if f.hit {
		return "", true
	}
	if len(f.stops) == 0 {
		return delta, false
	}
	s := f.held + delta
	cut, matched := -1, ""
	for _, stop := range f.stops {
		if i := strings.Index(s, stop); i >= 0 && (cut < 0 || i < cut) {
			cut, matched = i, stop
		}
	}
	if cut >= 0 {
		f.hit, f.held, f.matched = true, "", matched
		return s[:cut], true
	}
	keep := 0
	for _, stop := range f.stops {
		for n := min(len(stop)-1, len(s)); n > keep; n-- {
			if strings.HasSuffix(s, stop[:n]) {
				keep = n
				break
			}
		}
	}
	f.held = s[len(s)-keep:]
	return s[:len(s)-keep], false
}

// flush releases held text at the end of the output.
func (f *stopFilter) flush() string {
	s := f.held
	f.held = ""
	return s
}

func nonEmpty(list []string) []string {
	var out []string
	for _, s := range list {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Result is a whole response, gathered from a stream.
type Result struct {
	Text, Reasoning string
	ToolCalls       []chat.ToolCall
	Logprobs        []TokenLogprob
	Usage           Usage
	FinishReason    string
	StopSequence    string
	Err             error
}

// Collect reads a stream to its end.
func Collect(s *Stream) Result {
	var text, reasoning strings.Builder
	var r Result
	for e := range s.Events() {
		r.Logprobs = append(r.Logprobs, e.Logprobs...)
		switch e.Kind {
		case EventText:
			text.WriteString(e.Text)
		case EventReasoning:
			reasoning.WriteString(e.Text)
		case EventToolCall:
			r.ToolCalls = append(r.ToolCalls, e.ToolCall)
		case EventDone:
			r.Usage, r.FinishReason, r.StopSequence, r.Err = e.Usage, e.FinishReason, e.StopSequence, e.Err
		}
	}
	r.Text, r.Reasoning = text.String(), reasoning.String()
	return r
}
