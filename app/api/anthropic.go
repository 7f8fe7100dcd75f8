package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/lmx-app/lmx/engine"
)

// anthropicPrefix is the path of Anthropic's Messages API; requests under it
// get errors in Anthropic's shape.
const anthropicPrefix = "/v1/messages"

// anthropicTypes maps HTTP statuses to Anthropic error types.
var anthropicTypes = map[int]string{
	http.StatusBadRequest:            "invalid_request_error",
	http.StatusUnauthorized:          "authentication_error",
	http.StatusForbidden:             "permission_error",
	http.StatusNotFound:              "not_found_error",
	http.StatusMethodNotAllowed:      "invalid_request_error",
	http.StatusConflict:              "invalid_request_error",
	http.StatusRequestEntityTooLarge: "request_too_large",
	http.StatusTooManyRequests:       "rate_limit_error",
	http.StatusServiceUnavailable:    "overloaded_error",
}

// anthropicClass is the status and Anthropic error of err, classified by
// the same table as the OpenAI errors.
func anthropicClass(err error) (int, *AnthropicError) {
	status := classify(err).status
	typ, ok := anthropicTypes[status]
	if !ok {
		typ = "api_error"
	}
	return status, &AnthropicError{Type: typ, Message: err.Error()}
}

// anthropicErrorOf is the error object of err (for a stream's error event).
func anthropicErrorOf(err error) *AnthropicError {
	_, e := anthropicClass(err)
	return e
}

// writeAnthropicError is the one place that turns an error into an HTTP
// response in Anthropic's shape.
func writeAnthropicError(w http.ResponseWriter, err error) {
	status, e := anthropicClass(err)
	writeJSON(w, status, AnthropicErrorBody{Type: "error", Error: *e})
}

// writeErrorFor writes err in the shape of the API that r called:
// Anthropic's under /v1/messages, OpenAI's elsewhere (the middleware runs
// before any handler, so it asks here).
func writeErrorFor(w http.ResponseWriter, r *http.Request, err error) {
	if r.URL.Path == anthropicPrefix || strings.HasPrefix(r.URL.Path, anthropicPrefix+"/") {
		writeAnthropicError(w, err)
		return
	}
	writeError(w, err)
}

// handleMessages serves POST /v1/messages.
func (h *Handler) handleMessages(w http.ResponseWriter, r *http.Request, l *requestLog) {
	var req MessagesRequest
	stream, err := h.startMessage(w, r, &req, l)
	if err != nil {
		writeAnthropicError(w, err)
		return
	}
	conv := newAnthropicConverter(newID("msg_"), req.Model, len(stream.Prompt.IDs))
	if req.Stream {
		streamMessage(w, stream, conv, l)
		return
	}
	for e := range stream.Events() {
		l.note(e)
		conv.add(e)
	}
	if conv.err != nil {
		if r.Context().Err() == nil { // else the client left: no one to tell
			writeAnthropicError(w, conv.err)
		}
		return
	}
	writeJSON(w, http.StatusOK, conv.message())
}

// startMessage decodes and checks the request, finds the model and starts
// generating; the request's context stops generation when the client goes.
func (h *Handler) startMessage(w http.ResponseWriter, r *http.Request, req *MessagesRequest, l *requestLog) (*engine.Stream, error) {
	if err := decodeRequest(w, r, req); err != nil {
		return nil, err
	}
	l.setModel(req.Model)
	chatReq, err := req.chatRequest(false)
	if err != nil {
		return nil, err
	}
	if err := h.capMaxTokens(&chatReq.Params); err != nil {
		return nil, err
	}
	m, err := h.loadModel(r.Context(), req.Model)
	if err != nil {
		return nil, err
	}
	return m.Chat(r.Context(), chatReq)
}

// streamMessage writes the message as Anthropic's event stream, flushing
// after each engine event.
func streamMessage(w http.ResponseWriter, stream *engine.Stream, conv *anthropicConverter, l *requestLog) {
	out := startEvents(w)
	write := func(evs []AnthropicEvent) {
		for _, e := range evs {
			out.send(e.Type, e)
		}
		out.flush()
	}
	write(conv.start())
	for e := range stream.Events() {
		l.note(e)
		write(conv.add(e))
	}
}

// handleCountTokens serves POST /v1/messages/count_tokens: the prompt's
// length as the model's chat template renders it.
func (h *Handler) handleCountTokens(w http.ResponseWriter, r *http.Request, l *requestLog) {
	var req MessagesRequest
	if err := decodeRequest(w, r, &req); err != nil {
		writeAnthropicError(w, err)
		return
	}
	l.setModel(req.Model)
	chatReq, err := req.chatRequest(true)
	if err != nil {
		writeAnthropicError(w, err)
		return
	}
	m, err := h.loadModel(r.Context(), req.Model)
	if err != nil {
		writeAnthropicError(w, err)
		return
	}
	p, err := m.RenderChat(chatReq)
	if err != nil {
		writeAnthropicError(w, err)
		return
	}
	l.done(engine.Event{Kind: engine.EventDone, Usage: engine.Usage{PromptTokens: len(p.IDs)}})
	writeJSON(w, http.StatusOK, TokenCount{InputTokens: len(p.IDs)})
}

// eventStream writes named server-sent events (Anthropic's and the
// Responses API's streams name every event). Write errors mean the client
// went away; the request's context stops generation then, so they are kept
// only to skip further writes.
type eventStream struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

// startEvents sends the headers of an event stream.
func startEvents(w http.ResponseWriter) *eventStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &eventStream{w: w, rc: http.NewResponseController(w)}
}

// send writes one event named name with v as its JSON data.
func (s *eventStream) send(name string, v any) {
	if s.err != nil {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		s.err = fmt.Errorf("encode %s event: %w", name, err)
		return
	}
	_, s.err = fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, data)
}

// flush sends what was written to the client.
func (s *eventStream) flush() {
	if s.err == nil {
		s.err = s.rc.Flush()
	}
}

// newID is prefix and 24 random hex digits, as the APIs' object ids look.
func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return prefix + hex.EncodeToString(b)
}

// anthropicRecover answers a panic of fn with a 500 in Anthropic's error
// shape (generationHandler, around it, answers in OpenAI's); once the
// response has started it leaves the panic to generationHandler.
func anthropicRecover(fn func(http.ResponseWriter, *http.Request, *requestLog)) func(http.ResponseWriter, *http.Request, *requestLog) {
	return func(w http.ResponseWriter, r *http.Request, l *requestLog) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if sw, ok := w.(*statusWriter); v == http.ErrAbortHandler || !ok || sw.wrote {
				panic(v)
			}
			log.Printf("%s: panic: %v\n%s", r.URL.Path, v, debug.Stack())
			writeAnthropicError(w, fmt.Errorf("internal error: %v", v))
		}()
		fn(w, r, l)
	}
}
