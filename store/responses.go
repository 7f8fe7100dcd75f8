package store

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// responseRecordVersion is the envelope version of ResponseRecord.
const responseRecordVersion = 1

// Bounds of the responses bucket: saving beyond either evicts the oldest.
const (
	MaxResponses     = 1000
	MaxResponseBytes = 100 << 20
)

// ResponseRecord is one response of the OpenAI Responses API, kept so a
// later request can continue it (previous_response_id) and clients can
// read or delete it.
type ResponseRecord struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// Body is the Response object as the API returned it.
	Body json.RawMessage `json:"body"`
	// Conversation is the chat messages up to and including this
	// response's output, without the request's instructions (which a
	// follow-up does not inherit).
	Conversation json.RawMessage `json:"conversation"`
}

// NewResponseID returns a new response id. Ids sort by creation time, which
// is the order SaveResponse evicts in.
func NewResponseID() (string, error) {
	id, err := newID()
	if err != nil {
		return "", err
	}
	return "resp_" + id, nil
}

// SaveResponse stores r under r.ID (from NewResponseID), evicting the
// oldest responses beyond MaxResponses or MaxResponseBytes.
func (db *DB) SaveResponse(r ResponseRecord) error {
	return db.saveResponse(r, MaxResponses, MaxResponseBytes)
}

// saveResponse is SaveResponse with explicit bounds.
func (db *DB) saveResponse(r ResponseRecord, maxCount, maxBytes int) error {
	buf, err := encode(responseRecordVersion, r)
	if err != nil {
		return fmt.Errorf("save response: %w", err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketResponses)
		if err := b.Put([]byte(r.ID), buf); err != nil {
			return err
		}
		return evictOldest(b, maxCount, maxBytes)
	})
	if err != nil {
		return fmt.Errorf("save response %s: %w", r.ID, err)
	}
	return nil
}

// evictOldest deletes the first keys of b until at most maxCount values of
// at most maxBytes in all remain, always keeping the newest.
func evictOldest(b *bolt.Bucket, maxCount, maxBytes int) error {
	count, size := 0, 0
	if err := b.ForEach(func(_, v []byte) error {
		count++
		size += len(v)
		return nil
	}); err != nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil && count > 1 && (count > maxCount || size > maxBytes); k, v = c.First() {
		count--
		size -= len(v)
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Response returns the stored response id, or an error wrapping ErrNotFound.
func (db *DB) Response(id string) (ResponseRecord, error) {
	var r ResponseRecord
	if err := db.get(bucketResponses, id, &r); err != nil {
		return ResponseRecord{}, fmt.Errorf("load response: %w", err)
	}
	return r, nil
}

// DeleteResponse deletes the stored response id, or returns an error
// wrapping ErrNotFound.
func (db *DB) DeleteResponse(id string) error {
	if err := db.del(bucketResponses, id); err != nil {
		return fmt.Errorf("delete response: %w", err)
	}
	return nil
}
