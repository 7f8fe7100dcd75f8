package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// chatRecordVersion is the envelope version of Chat records. Version 2
// added Settings and the assistant fields of ChatMessage (reasoning, tool
// calls, stats); version 1 records read as version 2 ones without them.
const chatRecordVersion = 2

// Chat is one conversation of the UI's chat window.
type Chat struct {
	ID        string        `json:"id"`
	Title     string        `json:"title"`
	Model     string        `json:"model"`
	Settings  ChatSettings  `json:"settings"`
	Messages  []ChatMessage `json:"messages"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// ChatSettings are a conversation's request settings: its system prompt,
// sampling (nil: the server's default) and the tools offered to the model.
type ChatSettings struct {
	System      string   `json:"system,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	MaxTokens   *int     `json:"max_tokens,omitempty"`
	// ReasoningEffort is sent as the request's reasoning_effort ("none"
	// turns a thinking model's reasoning off); empty sends none.
	ReasoningEffort string `json:"reasoning_effort,omitempty"`
	// Tools is an OpenAI chat "tools" array, sent with every request.
	Tools json.RawMessage `json:"tools,omitempty"`
	// ToolChoice is an OpenAI "tool_choice" ("auto", "required", "none" or
	// a named function), sent with Tools.
	ToolChoice json.RawMessage `json:"tool_choice,omitempty"`
}

// ChatMessage is one turn of a Chat.
type ChatMessage struct {
	Role    string `json:"role"` // "system", "user", "assistant" or "tool"
	Content string `json:"content"`
	// Reasoning is an assistant turn's reasoning_content.
	Reasoning string `json:"reasoning,omitempty"`
	// ToolCalls is an assistant turn's OpenAI tool_calls array.
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
	// ToolCallID names the call a "tool" turn answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// Model, Stats and Stopped describe how an assistant turn was made.
	Model     string     `json:"model,omitempty"`
	Stats     *ChatStats `json:"stats,omitempty"`
	Stopped   bool       `json:"stopped,omitempty"` // the user stopped it mid-stream
	CreatedAt time.Time  `json:"created_at"`
}

// ChatStats are the measurements of one assistant reply, taken by the UI.
type ChatStats struct {
	PromptTokens     int     `json:"prompt_tokens,omitempty"`
	CompletionTokens int     `json:"completion_tokens,omitempty"`
	TTFTMs           float64 `json:"ttft_ms,omitempty"`        // request to first token
	TokensPerSec     float64 `json:"tokens_per_sec,omitempty"` // decode speed after the first token
	FinishReason     string  `json:"finish_reason,omitempty"`
}

// ChatSummary is a Chat without its messages, for lists.
type ChatSummary struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Model     string    `json:"model"`
	Messages  int       `json:"messages"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateChat stores a new empty chat and returns it.
func (db *DB) CreateChat(title, model string) (Chat, error) {
	id, err := newID()
	if err != nil {
		return Chat{}, err
	}
	now := time.Now().UTC()
	c := Chat{ID: id, Title: title, Model: model, Messages: []ChatMessage{}, CreatedAt: now, UpdatedAt: now}
	if err := db.put(bucketChats, id, chatRecordVersion, c); err != nil {
		return Chat{}, fmt.Errorf("create chat: %w", err)
	}
	return c, nil
}

// Chat returns the chat id with its messages.
func (db *DB) Chat(id string) (Chat, error) {
	var c Chat
	if err := db.get(bucketChats, id, &c); err != nil {
		return Chat{}, fmt.Errorf("load chat: %w", err)
	}
	return c, nil
}

// Chats lists every chat, most recently updated first.
func (db *DB) Chats() ([]ChatSummary, error) {
	cs, err := all[Chat](db, bucketChats)
	if err != nil {
		return nil, fmt.Errorf("list chats: %w", err)
	}
	out := make([]ChatSummary, len(cs))
	for i, c := range cs {
		out[i] = ChatSummary{ID: c.ID, Title: c.Title, Model: c.Model, Messages: len(c.Messages), UpdatedAt: c.UpdatedAt}
	}
	slices.SortStableFunc(out, func(a, b ChatSummary) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return out, nil
}

// AppendMessages adds msgs to chat id (stamping zero CreatedAt with now).
func (db *DB) AppendMessages(id string, msgs ...ChatMessage) (Chat, error) {
	return db.editChat(id, func(c *Chat) {
		for _, m := range msgs {
			if m.CreatedAt.IsZero() {
				m.CreatedAt = time.Now().UTC()
			}
			c.Messages = append(c.Messages, m)
		}
	})
}

// RenameChat sets the title of chat id.
func (db *DB) RenameChat(id, title string) (Chat, error) {
	return db.editChat(id, func(c *Chat) { c.Title = title })
}

// EditChat applies edit to chat id in one transaction (an edit error
// leaves it unchanged) and bumps UpdatedAt; messages without CreatedAt get
// now.
func (db *DB) EditChat(id string, edit func(*Chat) error) (Chat, error) {
	var out Chat
	err := update(db, bucketChats, id, chatRecordVersion, Chat{}, true, func(c *Chat) error {
		if err := edit(c); err != nil {
			return err
		}
		now := time.Now().UTC()
		for i := range c.Messages {
			if c.Messages[i].CreatedAt.IsZero() {
				c.Messages[i].CreatedAt = now
			}
		}
		if c.Messages == nil {
			c.Messages = []ChatMessage{}
		}
		c.UpdatedAt = now
		out = *c
		return nil
	})
	if err != nil {
		return Chat{}, fmt.Errorf("update chat: %w", err)
	}
	return out, nil
}

// DeleteChat removes chat id.
func (db *DB) DeleteChat(id string) error {
	if err := db.del(bucketChats, id); err != nil {
		return fmt.Errorf("delete chat: %w", err)
	}
	return nil
}

// editChat applies fn to an existing chat and bumps UpdatedAt.
func (db *DB) editChat(id string, fn func(*Chat)) (Chat, error) {
	return db.EditChat(id, func(c *Chat) error { fn(c); return nil })
}

// newID returns a sortable unique id: creation time then random bits.
func newID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return fmt.Sprintf("%x-%s", time.Now().UnixMilli(), hex.EncodeToString(b[:])), nil
}
