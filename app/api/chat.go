package api

import (
	"context"
	"net/http"
	"time"

	"github.com/lmx-app/lmx/engine"
)

// handleChat serves POST /v1/chat/completions: validate, start n
// generations, answer at once or as a stream. The request's context reaches
// the engine, so a client that leaves stops its generation.
func (h *Handler) handleChat(w http.ResponseWriter, r *http.Request, l *requestLog) {
	var req ChatCompletionRequest
	if err := decodeRequest(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	l.setModel(req.Model)
	limits, err := h.requestLimits()
	if err != nil {
		writeError(w, err)
		return
	}
	plan, err := req.plan(limits)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	m, err := h.loadModel(ctx, req.Model)
	if err != nil {
		writeError(w, err)
		return
	}
	streams, err := startChoices(plan.n, cancel, func(i int) (*engine.Stream, error) {
		er := plan.req
		er.Params = forChoice(er.Params, i)
		return m.Chat(ctx, er)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	out := chatOutput{id: newID("chatcmpl-"), created: time.Now().Unix(), model: req.Model, plan: plan}
	for i := range plan.n {
		out.choices = append(out.choices, newChatChoice(i, plan.logprobs, plan.parallel))
	}
	events := merge(ctx, streams)
	if req.Stream {
		out.stream(ctx, startSSE(w), events, l)
		return
	}
	out.answer(ctx, w, events, l)
}

// chatOutput is one response being produced.
type chatOutput struct {
	id      string
	created int64
	model   string
	plan    *chatPlan
	choices []*chatChoice
}

// answer collects every choice and writes the chat completion.
func (o *chatOutput) answer(ctx context.Context, w http.ResponseWriter, events <-chan choiceEvent, l *requestLog) {
	var done []engine.Event
	var failed error
	for e := range events {
		l.note(e.Event)
		o.choices[e.Index].add(e.Event)
		if e.Kind == engine.EventDone {
			done = append(done, e.Event)
			if err := streamErr(ctx, e.Event); err != nil && failed == nil {
				failed = err
			}
		}
	}
	if ctx.Err() != nil {
		return // the client left; nobody reads an answer
	}
	if failed != nil {
		writeError(w, failed)
		return
	}
	resp := ChatCompletion{ID: o.id, Object: "chat.completion", Created: o.created, Model: o.model, Usage: usageOf(done)}
	for _, c := range o.choices {
		resp.Choices = append(resp.Choices, c.message())
	}
	writeJSON(w, http.StatusOK, resp)
}

// stream writes the chunks as the events arrive: each choice's role first,
// its deltas, its finish reason, then the usage chunk on request and [DONE].
func (o *chatOutput) stream(ctx context.Context, sse *sseWriter, events <-chan choiceEvent, l *requestLog) {
	for _, c := range o.choices {
		if sse.send(o.chunk(c.firstDelta())) != nil {
			return
		}
	}
	var done []engine.Event
	for e := range events {
		l.note(e.Event)
		c := o.choices[e.Index]
		if d := c.add(e.Event); d != nil && sse.send(o.chunk(*d)) != nil {
			return
		}
		if e.Kind != engine.EventDone {
			continue
		}
		if err := streamErr(ctx, e.Event); err != nil {
			sse.fail(err)
			return
		}
		done = append(done, e.Event)
		if sse.send(o.chunk(c.finishDelta())) != nil {
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	if o.plan.includeUsage {
		chunk := o.chunk()
		chunk.Usage = usageOf(done)
		if sse.send(chunk) != nil {
			return
		}
	}
	sse.done()
}

// chunk is a stream chunk carrying choices.
func (o *chatOutput) chunk(choices ...ChatChunkChoice) ChatCompletionChunk {
	if choices == nil {
		choices = []ChatChunkChoice{}
	}
	return ChatCompletionChunk{ID: o.id, Object: "chat.completion.chunk", Created: o.created, Model: o.model, Choices: choices}
}
