package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/lmx-app/lmx/store"
)

// ChatStore keeps the Chat page's conversations (store/chats.go). The
// handlers find it on the backend by type assertion, like PoolBackend.
type ChatStore interface {
	Chats() ([]store.ChatSummary, error)
	CreateChat(title, model string) (store.Chat, error)
	Chat(id string) (store.Chat, error)
	EditChat(id string, edit func(*store.Chat) error) (store.Chat, error)
	DeleteChat(id string) error
}

// Bounds of what one conversation may hold.
const (
	maxChatTitle    = 200
	maxChatModel    = 512
	maxChatMessages = 10000
	maxChatSystem   = 1 << 20
	// DefaultChatTitle names a conversation created without a title.
	DefaultChatTitle = "New chat"
)

// ChatsBody is the body of GET /api/chats.
type ChatsBody struct {
	Chats []store.ChatSummary `json:"chats"`
}

// ChatPatch is the body of POST /api/chats and PATCH /api/chats/{id}:
// the fields to set; absent ones stay as they are (or empty, on create).
// Messages replaces the whole list.
type ChatPatch struct {
	Title    *string              `json:"title,omitempty"`
	Model    *string              `json:"model,omitempty"`
	Settings *store.ChatSettings  `json:"settings,omitempty"`
	Messages *[]store.ChatMessage `json:"messages,omitempty"`
}

// chatStore returns the backend's chat store, or ErrUnavailable.
func (h *Handler) chatStore() (ChatStore, error) {
	if cs, ok := h.backend.(ChatStore); ok {
		return cs, nil
	}
	return nil, fmt.Errorf("%w: this server keeps no chats", ErrUnavailable)
}

// handleListChats serves GET /api/chats, most recently updated first.
func (h *Handler) handleListChats(w http.ResponseWriter, _ *http.Request) {
	cs, err := h.chatStore()
	var list []store.ChatSummary
	if err == nil {
		list, err = cs.Chats()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ChatsBody{Chats: orEmpty(list)})
}

// handleCreateChat serves POST /api/chats: a new conversation with the
// body's fields; it answers 201 with the conversation.
func (h *Handler) handleCreateChat(w http.ResponseWriter, r *http.Request) {
	cs, err := h.chatStore()
	if err != nil {
		writeError(w, err)
		return
	}
	var p ChatPatch
	if err := decodeBody(r, &p); err != nil {
		writeError(w, err)
		return
	}
	if err := p.validate(); err != nil {
		writeError(w, err)
		return
	}
	title := DefaultChatTitle
	if p.Title != nil && strings.TrimSpace(*p.Title) != "" {
		title = strings.TrimSpace(*p.Title)
	}
	p.Title = nil
	c, err := cs.CreateChat(title, "")
	if err == nil {
		c, err = cs.EditChat(c.ID, p.apply)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

// handleGetChat serves GET /api/chats/{id}: the conversation with its
// messages and settings.
func (h *Handler) handleGetChat(w http.ResponseWriter, r *http.Request) {
	cs, id, err := h.chatAndID(r)
	var c store.Chat
	if err == nil {
		c, err = cs.Chat(id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// handlePatchChat serves PATCH /api/chats/{id}: rename, pick the model,
// change the settings or replace the messages, in one transaction.
func (h *Handler) handlePatchChat(w http.ResponseWriter, r *http.Request) {
	cs, id, err := h.chatAndID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var p ChatPatch
	if err := decodeBody(r, &p); err != nil {
		writeError(w, err)
		return
	}
	if p.Title != nil && strings.TrimSpace(*p.Title) == "" {
		writeError(w, paramErr("title", "title must not be empty"))
		return
	}
	if err := p.validate(); err != nil {
		writeError(w, err)
		return
	}
	c, err := cs.EditChat(id, p.apply)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// handleDeleteChat serves DELETE /api/chats/{id} and answers with the
// conversations left.
func (h *Handler) handleDeleteChat(w http.ResponseWriter, r *http.Request) {
	cs, id, err := h.chatAndID(r)
	if err == nil {
		err = cs.DeleteChat(id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	h.handleListChats(w, r)
}

// chatIDPattern is the shape of store ids: creation time and random bits.
var chatIDPattern = regexp.MustCompile(`^[0-9a-f]{1,16}-[0-9a-f]{12}$`)

// chatAndID returns the chat store and the validated {id} of the path.
func (h *Handler) chatAndID(r *http.Request) (ChatStore, string, error) {
	cs, err := h.chatStore()
	if err != nil {
		return nil, "", err
	}
	id := r.PathValue("id")
	if !chatIDPattern.MatchString(id) {
		return nil, "", paramErr("id", "chat id %q is not a chat id", id)
	}
	return cs, id, nil
}

// apply sets p's fields on c.
func (p ChatPatch) apply(c *store.Chat) error {
	if p.Title != nil {
		c.Title = strings.TrimSpace(*p.Title)
	}
	if p.Model != nil {
		c.Model = *p.Model
	}
	if p.Settings != nil {
		c.Settings = *p.Settings
	}
	if p.Messages != nil {
		c.Messages = *p.Messages
	}
	return nil
}

// validate checks every field p sets, naming the one at fault.
func (p ChatPatch) validate() error {
	if p.Title != nil && utf8.RuneCountInString(*p.Title) > maxChatTitle {
		return paramErr("title", "title is longer than %d characters", maxChatTitle)
	}
	if p.Model != nil && len(*p.Model) > maxChatModel {
		return paramErr("model", "model is longer than %d bytes", maxChatModel)
	}
	if p.Settings != nil {
		if err := validateChatSettings(p.Settings); err != nil {
			return err
		}
	}
	if p.Messages != nil {
		return validateChatMessages(*p.Messages)
	}
	return nil
}

// validateChatSettings checks sampling ranges and the tools' shape, and
// drops a JSON null tools or tool_choice.
func validateChatSettings(s *store.ChatSettings) error {
	switch {
	case len(s.System) > maxChatSystem:
		return paramErr("settings.system", "the system prompt is longer than %d bytes", maxChatSystem)
	case s.Temperature != nil && (*s.Temperature < 0 || *s.Temperature > 2):
		return paramErr("settings.temperature", "temperature must be between 0 and 2, not %g", *s.Temperature)
	case s.TopP != nil && (*s.TopP <= 0 || *s.TopP > 1):
		return paramErr("settings.top_p", "top_p must be above 0 and at most 1, not %g", *s.TopP)
	case s.MaxTokens != nil && (*s.MaxTokens < 1 || *s.MaxTokens > 1<<20):
		return paramErr("settings.max_tokens", "max_tokens must be between 1 and %d, not %d", 1<<20, *s.MaxTokens)
	case s.ReasoningEffort != "" && !reasoningEfforts[s.ReasoningEffort]:
		return paramErr("settings.reasoning_effort", "reasoning_effort %q is unknown (none, minimal, low, medium, high, xhigh)", s.ReasoningEffort)
	}
	if isJSONNull(s.Tools) {
		s.Tools = nil
	}
	if isJSONNull(s.ToolChoice) {
		s.ToolChoice = nil
	}
	names, err := toolNames(s.Tools)
	if err != nil {
		return err
	}
	return validateToolChoice(s.ToolChoice, names)
}

// reasoningEfforts are the reasoning_effort values the chat endpoint takes.
var reasoningEfforts = map[string]bool{"none": true, "minimal": true, "low": true, "medium": true, "high": true, "xhigh": true}

// toolNamePattern is what OpenAI accepts as a function name.
var toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// toolNames checks that raw is an OpenAI tools array of functions and
// returns their names.
func toolNames(raw json.RawMessage) ([]string, error) {
	if raw == nil {
		return nil, nil
	}
	var tools []struct {
		Type     string `json:"type"`
		Function *struct {
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &tools); err != nil {
		return nil, paramErr("settings.tools", "tools must be an array of {\"type\": \"function\", \"function\": {\"name\", \"parameters\"}}: %v", err)
	}
	names := make([]string, len(tools))
	for i, t := range tools {
		if t.Type != "function" || t.Function == nil {
			return nil, paramErr("settings.tools", "tools[%d] must be {\"type\": \"function\", \"function\": {...}}", i)
		}
		if !toolNamePattern.MatchString(t.Function.Name) {
			return nil, paramErr("settings.tools", "tools[%d].function.name %q must be 1-64 letters, digits, _ or -", i, t.Function.Name)
		}
		if p := t.Function.Parameters; p != nil && !isJSONNull(p) {
			var obj map[string]any
			if json.Unmarshal(p, &obj) != nil {
				return nil, paramErr("settings.tools", "tools[%d].function.parameters must be a JSON Schema object", i)
			}
		}
		names[i] = t.Function.Name
	}
	return names, nil
}

// validateToolChoice checks raw against OpenAI's tool_choice values and
// the offered tools.
func validateToolChoice(raw json.RawMessage, names []string) error {
	if raw == nil {
		return nil
	}
	var mode string
	if json.Unmarshal(raw, &mode) == nil {
		switch {
		case mode != "auto" && mode != "none" && mode != "required":
			return paramErr("settings.tool_choice", "tool_choice must be \"auto\", \"none\", \"required\" or a named function, not %q", mode)
		case mode == "required" && len(names) == 0:
			return paramErr("settings.tool_choice", "tool_choice \"required\" needs tools")
		}
		return nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" {
		return paramErr("settings.tool_choice", "tool_choice must be a string or {\"type\": \"function\", \"function\": {\"name\"}}")
	}
	for _, n := range names {
		if n == named.Function.Name {
			return nil
		}
	}
	return paramErr("settings.tool_choice", "tool_choice names %q, which is not among the tools", named.Function.Name)
}

// storedChatRoles are the roles a stored message may have.
var storedChatRoles = map[string]bool{"system": true, "user": true, "assistant": true, "tool": true}

// validateChatMessages checks roles and the tool calls' shape.
func validateChatMessages(msgs []store.ChatMessage) error {
	if len(msgs) > maxChatMessages {
		return paramErr("messages", "a chat holds at most %d messages", maxChatMessages)
	}
	for i := range msgs {
		m := &msgs[i]
		if !storedChatRoles[m.Role] {
			return paramErr("messages", "messages[%d].role must be system, user, assistant or tool, not %q", i, m.Role)
		}
		if isJSONNull(m.ToolCalls) {
			m.ToolCalls = nil
		}
		if m.ToolCalls == nil {
			continue
		}
		if m.Role != "assistant" {
			return paramErr("messages", "messages[%d] has tool_calls but is not an assistant message", i)
		}
		var calls []map[string]any
		if json.Unmarshal(m.ToolCalls, &calls) != nil {
			return paramErr("messages", "messages[%d].tool_calls must be an array of OpenAI tool calls", i)
		}
	}
	return nil
}

// isJSONNull reports whether raw is the JSON null.
func isJSONNull(raw json.RawMessage) bool {
	return strings.TrimSpace(string(raw)) == "null"
}
