package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/lmx-app/lmx/engine"
)

// choiceEvent is an engine event of choice Index of a request.
type choiceEvent struct {
	Index int
	engine.Event
}

// loadModel returns the model a generation request names.
func (h *Handler) loadModel(ctx context.Context, name string) (*engine.Model, error) {
	if strings.TrimSpace(name) == "" {
		return nil, paramErr("model", "model is required (GET /v1/models lists the installed models)")
	}
	return h.backend.Model(ctx, name)
}

// startChoices starts n generations, start(i) making the i-th. An error of
// any start is returned after cancel stops the ones already running.
func startChoices(n int, cancel context.CancelFunc, start func(i int) (*engine.Stream, error)) ([]*engine.Stream, error) {
	streams := make([]*engine.Stream, 0, n)
	for i := range n {
		s, err := start(i)
		if err != nil {
			cancel()
			for _, s := range streams {
				for range s.Events() { // drain: generation ends within a step
				}
			}
			return nil, err
		}
		streams = append(streams, s)
	}
	return streams, nil
}

// merge reads every stream to its end and delivers the events, tagged with
// their choice index, on the returned channel, which is closed after the
// last stream ends. Once ctx is done, events are dropped instead of
// delivered, so no goroutine waits for a reader that has left.
func merge(ctx context.Context, streams []*engine.Stream) <-chan choiceEvent {
	out := make(chan choiceEvent)
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Go(func() {
			for e := range s.Events() {
				select {
				case out <- choiceEvent{Index: i, Event: e}:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		wg.Wait()
		close(out)
	}()
	return out
}

// note records an event in the request's log line.
func (l *requestLog) note(e engine.Event) {
	switch e.Kind {
	case engine.EventDone:
		l.done(e)
	default:
		l.output()
	}
}

// streamErr is the error that ended a generation, or nil: a request
// cancelled because its client left is no error to report.
func streamErr(ctx context.Context, e engine.Event) error {
	if e.Kind != engine.EventDone || e.Err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(e.Err, context.Canceled) {
		return nil
	}
	return fmt.Errorf("generation: %w", e.Err)
}

// usageOf sums the usage of a request's generations; the prompt counts once.
func usageOf(done []engine.Event) *Usage {
	u := &Usage{}
	for _, e := range done {
		u.PromptTokens = max(u.PromptTokens, e.Usage.PromptTokens)
		u.PromptTokensDetails.CachedTokens = max(u.PromptTokensDetails.CachedTokens, e.Usage.CachedTokens)
		u.CompletionTokens += e.Usage.CompletionTokens
	}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return u
}

// sseWriter writes server-sent events in OpenAI's format: "data: JSON"
// events and a final "data: [DONE]".
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

// startSSE sends the stream's headers.
func startSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

// send writes v as one event and flushes it; after a failed write (the
// client left) it does nothing and returns that error.
func (s *sseWriter) send(v any) error {
	if s.err != nil {
		return s.err
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.err = fmt.Errorf("encode event: %w", err)
		return s.err
	}
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err != nil {
		s.err = err
		return err
	}
	if err := s.rc.Flush(); err != nil {
		s.err = err
	}
	return s.err
}

// fail sends err as an OpenAI error event; the stream ends without [DONE].
func (s *sseWriter) fail(err error) {
	_, body := errorResponse(err)
	_ = s.send(body)
}

// done ends the stream.
func (s *sseWriter) done() {
	if s.err == nil {
		_, _ = fmt.Fprint(s.w, "data: [DONE]\n\n")
		_ = s.rc.Flush()
	}
}

// functionTool is a tool in OpenAI's chat shape, the form the engine's chat
// requests take; the Anthropic and Responses APIs convert theirs to it.
type functionTool struct {
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

// toolFunction is a functionTool's function.
type toolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}
