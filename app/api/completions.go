package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/store"
)

// Limits of the legacy completions endpoint.
const (
	// maxPrompts is the most prompts one request may list.
	maxPrompts = 32
	// maxCompletionLogprobs is the legacy API's largest logprobs.
	maxCompletionLogprobs = 5
)

// completionPlan is a validated completion request: prompts × n generations.
type completionPlan struct {
	prompts      []engine.CompletionRequest
	n            int
	echo         bool
	logprobs     bool
	includeUsage bool
}

// plan validates req within the limits and builds one engine request per
// prompt.
func (req *CompletionRequest) plan(limits store.RequestSettings) (*completionPlan, error) {
	if req.Suffix != nil && *req.Suffix != "" {
		return nil, paramErr("suffix", "suffix (fill in the middle) is not supported")
	}
	if req.BestOf != nil && *req.BestOf != 1 {
		return nil, paramErr("best_of", "best_of other than 1 is not supported")
	}
	p := &completionPlan{echo: req.Echo, includeUsage: req.includeUsage()}
	var err error
	if p.n, err = req.choices(limits.MaxChoices); err != nil {
		return nil, err
	}
	params, err := req.params(req.MaxTokens, "max_tokens", limits.MaxTokens)
	if err != nil {
		return nil, err
	}
	if lp := req.Logprobs; lp != nil {
		if *lp < 0 || *lp > maxCompletionLogprobs {
			return nil, paramErr("logprobs", "logprobs is %d; it must be between 0 and %d", *lp, maxCompletionLogprobs)
		}
		if req.Echo {
			return nil, paramErr("logprobs", "logprobs with echo (prompt logprobs) is not supported")
		}
		p.logprobs, params.Logprobs, params.TopLogprobs = true, true, *lp
	}
	prompts, err := parsePrompt(req.Prompt)
	if err != nil {
		return nil, err
	}
	for _, pr := range prompts {
		pr.Params, pr.AddSpecial = params, true
		p.prompts = append(p.prompts, pr)
	}
	if len(p.prompts)*p.n > maxPrompts {
		return nil, paramErr("n", "%d prompts × n=%d is more than %d generations", len(p.prompts), p.n, maxPrompts)
	}
	return p, nil
}

// parsePrompt reads prompt: a string, a list of strings, a list of token
// ids, or a list of token-id lists.
func parsePrompt(raw json.RawMessage) ([]engine.CompletionRequest, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []engine.CompletionRequest{{Text: one}}, nil
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil && len(texts) > 0 {
		out := make([]engine.CompletionRequest, len(texts))
		for i, t := range texts {
			out[i].Text = t
		}
		return out, nil
	}
	var ids []int32
	if json.Unmarshal(raw, &ids) == nil && len(ids) > 0 {
		return []engine.CompletionRequest{{IDs: ids}}, nil
	}
	var lists [][]int32
	if json.Unmarshal(raw, &lists) == nil && len(lists) > 0 {
		out := make([]engine.CompletionRequest, len(lists))
		for i, l := range lists {
			if len(l) == 0 {
				return nil, paramErr("prompt", "prompt[%d] is an empty token list", i)
			}
			out[i].IDs = l
		}
		return out, nil
	}
	return nil, paramErr("prompt", "prompt must be a string, a non-empty list of strings, of token ids, or of token-id lists")
}

// handleCompletions serves POST /v1/completions (the legacy API).
func (h *Handler) handleCompletions(w http.ResponseWriter, r *http.Request, l *requestLog) {
	var req CompletionRequest
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
	streams, err := startChoices(len(plan.prompts)*plan.n, cancel, func(i int) (*engine.Stream, error) {
		cr := plan.prompts[i/plan.n]
		cr.Params = forChoice(cr.Params, i%plan.n)
		return m.Complete(ctx, cr)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	out := completionOutput{id: newID("cmpl-"), created: time.Now().Unix(), model: req.Model, plan: plan}
	for i := range streams {
		out.choices = append(out.choices, &completionChoice{echo: echoText(m, plan.echo, plan.prompts[i/plan.n])})
	}
	if req.Stream {
		out.stream(ctx, startSSE(w), merge(ctx, streams), l)
		return
	}
	out.answer(ctx, w, merge(ctx, streams), l)
}

// echoText is the prompt text echo puts before a choice's text: the text
// prompt, or a token-id prompt decoded.
func echoText(m *engine.Model, echo bool, cr engine.CompletionRequest) string {
	if !echo {
		return ""
	}
	if cr.IDs == nil {
		return cr.Text
	}
	tok, err := m.Tokenizer()
	if err != nil {
		return ""
	}
	return tok.Decode(cr.IDs, false)
}

// completionChoice gathers one generation of a completion.
type completionChoice struct {
	echo     string
	text     strings.Builder
	logprobs []engine.TokenLogprob
	done     engine.Event
}

// finishReason is the legacy API's finish reason (stop or length).
func (c *completionChoice) finishReason() *string {
	reason := engine.FinishStop
	if c.done.FinishReason == engine.FinishLength {
		reason = engine.FinishLength
	}
	return &reason
}

// completionOutput is one completion response being produced.
type completionOutput struct {
	id      string
	created int64
	model   string
	plan    *completionPlan
	choices []*completionChoice
}

// answer collects every choice and writes the completion.
func (o *completionOutput) answer(ctx context.Context, w http.ResponseWriter, events <-chan choiceEvent, l *requestLog) {
	var done []engine.Event
	var failed error
	for e := range events {
		l.note(e.Event)
		c := o.choices[e.Index]
		c.logprobs = append(c.logprobs, e.Logprobs...)
		switch e.Kind {
		case engine.EventText:
			c.text.WriteString(e.Text)
		case engine.EventDone:
			c.done = e.Event
			done = append(done, e.Event)
			if err := streamErr(ctx, e.Event); err != nil && failed == nil {
				failed = err
			}
		}
	}
	if ctx.Err() != nil {
		return
	}
	if failed != nil {
		writeError(w, failed)
		return
	}
	resp := o.body()
	resp.Usage = usageOf(done)
	for i, c := range o.choices {
		ch := CompletionChoice{Index: i, Text: c.echo + c.text.String(), FinishReason: c.finishReason()}
		if o.plan.logprobs {
			ch.Logprobs = completionLogprobs(c.logprobs, len(c.echo))
		}
		resp.Choices = append(resp.Choices, ch)
	}
	writeJSON(w, http.StatusOK, resp)
}

// stream writes each choice's text as it comes (the echo first), then its
// finish reason, the usage chunk on request, and [DONE].
func (o *completionOutput) stream(ctx context.Context, sse *sseWriter, events <-chan choiceEvent, l *requestLog) {
	for i, c := range o.choices {
		if c.echo != "" && sse.send(o.chunk(CompletionChoice{Index: i, Text: c.echo})) != nil {
			return
		}
	}
	var done []engine.Event
	for e := range events {
		l.note(e.Event)
		if !o.streamEvent(ctx, sse, e, &done) {
			return
		}
	}
	if ctx.Err() != nil {
		return
	}
	if o.plan.includeUsage {
		chunk := o.body()
		chunk.Usage = usageOf(done)
		if sse.send(chunk) != nil {
			return
		}
	}
	sse.done()
}

// streamEvent writes the chunk of one event; it reports false when the
// stream must end (a generation failed, sent as an error event, or the
// client left).
func (o *completionOutput) streamEvent(ctx context.Context, sse *sseWriter, e choiceEvent, done *[]engine.Event) bool {
	c := o.choices[e.Index]
	ch := CompletionChoice{Index: e.Index}
	if o.plan.logprobs && len(e.Logprobs) > 0 {
		ch.Logprobs = completionLogprobs(e.Logprobs, len(c.echo)+c.text.Len())
	}
	switch e.Kind {
	case engine.EventText:
		ch.Text = e.Text
		c.text.WriteString(e.Text)
	case engine.EventDone:
		if err := streamErr(ctx, e.Event); err != nil {
			sse.fail(err)
			return false
		}
		c.done = e.Event
		*done = append(*done, e.Event)
		ch.FinishReason = c.finishReason()
	default:
		return true
	}
	return sse.send(o.chunk(ch)) == nil
}

// body is a completion without choices.
func (o *completionOutput) body() Completion {
	return Completion{ID: o.id, Object: "text_completion", Created: o.created, Model: o.model, Choices: []CompletionChoice{}}
}

// chunk is a stream chunk carrying one choice.
func (o *completionOutput) chunk(ch CompletionChoice) Completion {
	c := o.body()
	c.Choices = []CompletionChoice{ch}
	return c
}
