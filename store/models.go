package store

import (
	"fmt"
	"time"
)

// modelRecordVersion is the envelope version of Model records.
const modelRecordVersion = 1

// Model is an installed model in the registry, keyed by ID (the repo id for
// Hub models, the folder path for plain folders).
type Model struct {
	ID             string    `json:"id"`
	Repo           string    `json:"repo,omitempty"`
	Revision       string    `json:"revision,omitempty"` // commit hash of the snapshot
	Path           string    `json:"path"`
	SizeBytes      int64     `json:"size_bytes"`
	Architecture   string    `json:"architecture"`
	Params         int64     `json:"params"`
	QuantBits      int       `json:"quant_bits,omitempty"`
	QuantGroupSize int       `json:"quant_group_size,omitempty"`
	QuantMode      string    `json:"quant_mode,omitempty"`
	Supported      bool      `json:"supported"`
	Reason         string    `json:"reason,omitempty"` // why not supported
	AddedAt        time.Time `json:"added_at"`
	LastUsedAt     time.Time `json:"last_used_at"`
	Pinned         bool      `json:"pinned"`
}

// RegisterModel stores m, keeping the AddedAt, LastUsedAt and Pinned of an
// existing record with the same ID; AddedAt defaults to now.
func (db *DB) RegisterModel(m Model) error {
	err := update(db, bucketModels, m.ID, modelRecordVersion, Model{}, false, func(old *Model) error {
		if !old.AddedAt.IsZero() {
			m.AddedAt, m.LastUsedAt, m.Pinned = old.AddedAt, old.LastUsedAt, old.Pinned
		}
		if m.AddedAt.IsZero() {
			m.AddedAt = time.Now().UTC()
		}
		*old = m
		return nil
	})
	if err != nil {
		return fmt.Errorf("register model %s: %w", m.ID, err)
	}
	return nil
}

// Model returns the record with id, or an error wrapping ErrNotFound.
func (db *DB) Model(id string) (Model, error) {
	var m Model
	if err := db.get(bucketModels, id, &m); err != nil {
		return Model{}, fmt.Errorf("load model: %w", err)
	}
	return m, nil
}

// Models returns every registered model ordered by ID.
func (db *DB) Models() ([]Model, error) {
	ms, err := all[Model](db, bucketModels)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return ms, nil
}

// DeleteModel removes the record with id (not its files).
func (db *DB) DeleteModel(id string) error {
	if err := db.del(bucketModels, id); err != nil {
		return fmt.Errorf("delete model: %w", err)
	}
	return nil
}

// TouchModel records that the model was used at t.
func (db *DB) TouchModel(id string, t time.Time) error {
	return db.editModel(id, func(m *Model) { m.LastUsedAt = t.UTC() })
}

// SetPinned pins (keeps loaded / never auto-deleted) or unpins a model.
func (db *DB) SetPinned(id string, pinned bool) error {
	return db.editModel(id, func(m *Model) { m.Pinned = pinned })
}

// editModel applies fn to an existing record.
func (db *DB) editModel(id string, fn func(*Model)) error {
	err := update(db, bucketModels, id, modelRecordVersion, Model{}, true, func(m *Model) error {
		fn(m)
		return nil
	})
	if err != nil {
		return fmt.Errorf("update model: %w", err)
	}
	return nil
}
