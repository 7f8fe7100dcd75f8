package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/store"
)

// ResponseStore keeps the Responses API's stored responses (the store's
// bounded responses bucket). Errors for unknown ids wrap store.ErrNotFound.
type ResponseStore interface {
	SaveResponse(r store.ResponseRecord) error
	Response(id string) (store.ResponseRecord, error)
	DeleteResponse(id string) error
}

// handleCreateResponse serves POST /v1/responses.
func (h *Handler) handleCreateResponse(w http.ResponseWriter, r *http.Request, l *requestLog) {
	var req ResponseRequest
	stream, turns, err := h.startResponse(w, r, &req, l)
	if err != nil {
		writeError(w, err)
		return
	}
	id, err := store.NewResponseID()
	if err != nil {
		writeError(w, err)
		return
	}
	c := &responsesConverter{resp: newResponse(id, &req), newID: newID, now: func() int64 { return time.Now().Unix() }}
	finish := func() { h.saveResponse(&req, c, turns) }
	if req.Stream {
		streamResponse(w, stream, c, finish, l)
		return
	}
	for e := range stream.Events() {
		l.note(e)
		c.add(e)
	}
	if c.err != nil {
		if r.Context().Err() == nil { // else the client left: no one to tell
			writeError(w, c.err)
		}
		return
	}
	finish()
	writeJSON(w, http.StatusOK, c.response())
}

// startResponse decodes and checks the request, continues its previous
// response, finds the model and starts generating. It returns the
// conversation turns a follow-up continues from.
func (h *Handler) startResponse(w http.ResponseWriter, r *http.Request, req *ResponseRequest, l *requestLog) (*engine.Stream, []chat.Message, error) {
	if err := decodeRequest(w, r, req); err != nil {
		return nil, nil, err
	}
	l.setModel(req.Model)
	history, err := h.history(req.PreviousResponseID)
	if err != nil {
		return nil, nil, err
	}
	chatReq, turns, err := req.chatRequest(history)
	if err != nil {
		return nil, nil, err
	}
	if err := h.capMaxTokens(&chatReq.Params); err != nil {
		return nil, nil, err
	}
	m, err := h.loadModel(r.Context(), req.Model)
	if err != nil {
		return nil, nil, err
	}
	stream, err := m.Chat(r.Context(), chatReq)
	return stream, turns, err
}

// history is the stored conversation of previous_response_id.
func (h *Handler) history(id *string) ([]chat.Message, error) {
	if id == nil || *id == "" {
		return nil, nil
	}
	rec, err := h.backend.Response(*id)
	if err != nil {
		return nil, &ParamError{Param: "previous_response_id", Err: fmt.Errorf("previous response %q: %w", *id, err)}
	}
	var msgs []chat.Message
	if err := json.Unmarshal(rec.Conversation, &msgs); err != nil {
		return nil, fmt.Errorf("stored response %s: %w", *id, err)
	}
	return msgs, nil
}

// newResponse is the response object of req before generation.
func newResponse(id string, req *ResponseRequest) Response {
	r := Response{
		ID: id, Object: "response", CreatedAt: time.Now().Unix(), Model: req.Model,
		Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens,
		ParallelToolCalls:  req.ParallelToolCalls == nil || *req.ParallelToolCalls,
		PreviousResponseID: req.PreviousResponseID, Store: req.Store == nil || *req.Store,
		Temperature: responsesDefaultTemperature, TopP: responsesDefaultTopP,
		ToolChoice: json.RawMessage(`"auto"`), Tools: []ResponseTool{}, Truncation: "disabled",
		Metadata: map[string]string{}, Output: []any{},
	}
	if req.Temperature != nil {
		r.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		r.TopP = *req.TopP
	}
	if len(req.ToolChoice) > 0 && string(req.ToolChoice) != "null" {
		r.ToolChoice = req.ToolChoice
	}
	if req.Tools != nil {
		r.Tools = req.Tools
	}
	if req.Metadata != nil {
		r.Metadata = req.Metadata
	}
	return r
}

// saveResponse stores a finished response unless the request said store:
// false or it failed. A store error only costs the follow-ups, so it is
// logged rather than failing the answer.
func (h *Handler) saveResponse(req *ResponseRequest, c *responsesConverter, turns []chat.Message) {
	resp := c.response()
	if !resp.Store || c.err != nil {
		return
	}
	conv, err := json.Marshal(append(turns, assistantTurnOf(resp)))
	if err == nil {
		err = h.backend.SaveResponse(store.ResponseRecord{
			ID: resp.ID, CreatedAt: time.Unix(resp.CreatedAt, 0).UTC(), Body: snapshot(resp), Conversation: conv,
		})
	}
	if err != nil {
		log.Printf("responses: %v", err)
	}
}

// assistantTurnOf is a response's output as one assistant chat message.
func assistantTurnOf(r Response) chat.Message {
	m := chat.Message{Role: "assistant"}
	var text, reasoning strings.Builder
	for _, it := range r.Output {
		switch it := it.(type) {
		case *ResponseMessage:
			for _, p := range it.Content {
				text.WriteString(p.Text)
			}
		case *ResponseReasoningItem:
			for _, p := range it.Content {
				reasoning.WriteString(p.Text)
			}
		case *ResponseFunctionCall:
			m.ToolCalls = append(m.ToolCalls, chat.ToolCall{ID: it.CallID, Type: "function",
				Function: chat.FunctionCall{Name: it.Name, Arguments: it.Arguments}})
		}
	}
	m.Content, m.ReasoningContent = text.String(), reasoning.String()
	return m
}

// streamResponse writes the response as the Responses API's event stream;
// finish runs before the last event, so a client that continues the
// response as soon as it sees response.completed finds it stored.
func streamResponse(w http.ResponseWriter, stream *engine.Stream, c *responsesConverter, finish func(), l *requestLog) {
	out := startEvents(w)
	write := func(evs []ResponseEvent) {
		for _, e := range evs {
			out.send(e.Type, e)
		}
		out.flush()
	}
	write(c.start())
	for e := range stream.Events() {
		l.note(e)
		evs := c.add(e)
		if e.Kind == engine.EventDone {
			finish()
		}
		write(evs)
	}
}

// handleGetResponse serves GET /v1/responses/{id}: a stored response.
func (h *Handler) handleGetResponse(w http.ResponseWriter, r *http.Request, l *requestLog) {
	rec, err := h.backend.Response(r.PathValue("id"))
	if err != nil {
		writeError(w, responseNotFound(err))
		return
	}
	var model struct{ Model string }
	if json.Unmarshal(rec.Body, &model) == nil {
		l.setModel(model.Model)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(rec.Body)
}

// handleDeleteResponse serves DELETE /v1/responses/{id}.
func (h *Handler) handleDeleteResponse(w http.ResponseWriter, r *http.Request, _ *requestLog) {
	id := r.PathValue("id")
	if err := h.backend.DeleteResponse(id); err != nil {
		writeError(w, responseNotFound(err))
		return
	}
	writeJSON(w, http.StatusOK, ResponseDeleted{ID: id, Object: "response", Deleted: true})
}

// responseNotFound words a store miss as OpenAI does.
func responseNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: no stored response with that id (responses made with store: false are not kept)", err)
	}
	return err
}
