package store

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"
)

// chatRecordVersion is the envelope version of Chat records.
const chatRecordVersion = 1

// Chat is one conversation of the UI's chat window.
type Chat struct {
	ID        string        `json:"id"`
	Title     string        `json:"title"`
	Model     string        `json:"model"`
	Messages  []ChatMessage `json:"messages"`
	CreatedAt time.Time     `json:"created_at"`
	UpdatedAt time.Time     `json:"updated_at"`
}

// ChatMessage is one turn of a Chat.
type ChatMessage struct {
	Role      string    `json:"role"` // "system", "user", "assistant" or "tool"
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
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

// DeleteChat removes chat id.
func (db *DB) DeleteChat(id string) error {
	if err := db.del(bucketChats, id); err != nil {
		return fmt.Errorf("delete chat: %w", err)
	}
	return nil
}

// editChat applies fn to an existing chat and bumps UpdatedAt.
func (db *DB) editChat(id string, fn func(*Chat)) (Chat, error) {
	var out Chat
	err := update(db, bucketChats, id, chatRecordVersion, Chat{}, true, func(c *Chat) error {
		fn(c)
		c.UpdatedAt = time.Now().UTC()
		out = *c
		return nil
	})
	if err != nil {
		return Chat{}, fmt.Errorf("update chat: %w", err)
	}
	return out, nil
}

// newID returns a sortable unique id: creation time then random bits.
func newID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return fmt.Sprintf("%x-%s", time.Now().UnixMilli(), hex.EncodeToString(b[:])), nil
}
