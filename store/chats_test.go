package store

import (
	"encoding/json"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestChatV1RecordsRead: a conversation stored by version 1 (no settings,
// plain messages) reads and edits as a version 2 one.
func TestChatV1RecordsRead(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v1 := `{"v":1,"data":{"id":"1-000000000000","title":"old","model":"m","messages":[{"role":"user","content":"hi","created_at":"2025-01-02T03:04:05Z"}],` +
		`"created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:05Z"}}`
	if err := db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketChats).Put([]byte("1-000000000000"), []byte(v1)) }); err != nil {
		t.Fatal(err)
	}
	c, err := db.EditChat("1-000000000000", func(c *Chat) error {
		c.Messages = append(c.Messages, ChatMessage{Role: "assistant", Content: "hello", Stats: &ChatStats{CompletionTokens: 2}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Title != "old" || len(c.Messages) != 2 || c.Messages[0].Content != "hi" || c.Messages[1].CreatedAt.IsZero() || c.Settings.Temperature != nil {
		t.Errorf("v1 record after an edit: %+v", c)
	}
	var env envelope
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		return json.Unmarshal(tx.Bucket(bucketChats).Get([]byte(c.ID)), &env)
	})
	if env.V != chatRecordVersion {
		t.Errorf("an edited record is stored as v%d, want v%d", env.V, chatRecordVersion)
	}
}

// TestEditChatErrorChangesNothing: an edit that fails leaves the record.
func TestEditChatErrorChangesNothing(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, _ := db.CreateChat("keep", "m")
	boom := errors.New("boom")
	if _, err := db.EditChat(c.ID, func(c *Chat) error { c.Title = "lost"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("EditChat error = %v", err)
	}
	if got, _ := db.Chat(c.ID); got.Title != "keep" {
		t.Errorf("a failed edit changed the title to %q", got.Title)
	}
	if _, err := db.EditChat("1-000000000000", func(*Chat) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("editing a missing chat: %v", err)
	}
}
