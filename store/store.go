// Package store keeps LMX's persistent state in one bbolt database: settings,
// the registry of installed models, download state, chat history and the
// stored responses of the OpenAI Responses API.
//
// One process owns the database at a time (bbolt's file lock): a second LMX
// instance gets ErrAlreadyRunning within OpenTimeout. Values are versioned
// JSON envelopes, one bucket per concern, and every read copies its bytes out
// of the transaction before it ends.
package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database file inside the data directory.
const FileName = "lmx.db"

// OpenTimeout bounds how long Open waits for the file lock held by another
// instance before reporting ErrAlreadyRunning.
const OpenTimeout = 500 * time.Millisecond

var (
	// ErrAlreadyRunning means another LMX process holds the database lock.
	ErrAlreadyRunning = errors.New("another LMX instance is already running")
	// ErrNotFound means the requested record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNewerSchema means the database was written by a newer LMX.
	ErrNewerSchema = errors.New("database schema is newer than this LMX")
)

// Bucket names, one per concern.
var (
	bucketMeta      = []byte("meta")
	bucketSettings  = []byte("settings")
	bucketModels    = []byte("models")
	bucketDownloads = []byte("downloads")
	bucketChats     = []byte("chats")
	bucketResponses = []byte("responses")
)

// DB is the open LMX database. It is safe for concurrent use; bbolt
// serialises writers.
type DB struct {
	bolt  *bolt.DB
	path  string
	reset *Reset
}

// Open opens (creating if needed) the database in dir and migrates it to the
// current schema. It returns ErrAlreadyRunning when another process holds it.
//
// A damaged file (not a bbolt database, truncated, pages overwritten, empty)
// never stops LMX: it is kept beside as lmx.db.damaged-<time>, a fresh
// database takes its place, the reset is logged, and Reset reports it so the
// UI can say so.
func Open(dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := openMigrated(path)
	if !errors.Is(err, errDamaged) {
		return db, err
	}
	now := time.Now()
	kept, kerr := setAside(path, now)
	if kerr != nil {
		return nil, fmt.Errorf("open %s: %v; %w", path, err, kerr)
	}
	reset := &Reset{Time: now.UTC(), Kept: kept, Reason: strings.TrimPrefix(err.Error(), errDamaged.Error()+": ")}
	log.Printf("store: %s", reset.Message())
	db, err = openMigrated(path)
	if err != nil {
		return nil, fmt.Errorf("open fresh %s after setting the damaged one aside: %w", path, err)
	}
	db.reset = reset
	// Kept until the app takes it (TakeReset), so the UI says it once even
	// when a CLI command was the one that found the damage.
	if err := db.putResetNotice(reset); err != nil {
		log.Printf("store: record the reset notice: %v", err)
	}
	return db, nil
}

// openMigrated opens and checks the file at path and migrates it; damage
// found on the way is wrapped in errDamaged.
func openMigrated(path string) (_ *DB, err error) {
	b, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b, path: path}
	defer func() {
		if v := recover(); v != nil {
			log.Printf("store: migrating %s panicked: %v\n%s", path, v, debug.Stack())
			b.Close()
			err = fmt.Errorf("%w: %v", errDamaged, v)
		}
	}()
	if err := db.migrate(); err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

// Reset reports the damaged database this Open set aside, or nil.
func (db *DB) Reset() *Reset { return db.reset }

// keyResetNotice, in the meta bucket, holds the Reset not yet shown.
var keyResetNotice = []byte("reset_notice")

// putResetNotice records r for TakeReset.
func (db *DB) putResetNotice(r *Reset) error {
	buf, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyResetNotice, buf) })
}

// TakeReset returns the reset of a damaged database not yet shown to the
// user (found by this Open or an earlier one, such as a CLI command's) and
// forgets it, so the app tells the user once; nil when there is none.
func (db *DB) TakeReset() (*Reset, error) {
	var r *Reset
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		raw := meta.Get(keyResetNotice)
		if raw == nil {
			return nil
		}
		r = new(Reset)
		if err := json.Unmarshal(raw, r); err != nil {
			r = nil // unreadable: drop it rather than fail the app's start
		}
		return meta.Delete(keyResetNotice)
	})
	if err != nil {
		return nil, fmt.Errorf("take reset notice: %w", err)
	}
	return r, nil
}

// Path returns the database file path.
func (db *DB) Path() string { return db.path }

// Close releases the database and its lock.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// envelope is how every value is stored: a record version and its data, so a
// record's shape can change without a schema migration of the whole file.
type envelope struct {
	V    int             `json:"v"`
	Data json.RawMessage `json:"data"`
}

// encode wraps value in an envelope of version v.
func encode(v int, value any) ([]byte, error) {
	data, err := json.Marshal(value)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return json.Marshal(envelope{V: v, Data: data})
}

// decode unwraps an envelope into out. raw may point into a transaction's
// memory: json.Unmarshal copies what it keeps.
func decode(raw []byte, out any) error {
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("decode envelope: %w", err)
	}
	if err := json.Unmarshal(env.Data, out); err != nil {
		return fmt.Errorf("decode v%d record: %w", env.V, err)
	}
	return nil
}

// put stores value under key in bucket, in its own write transaction.
func (db *DB) put(bucket []byte, key string, v int, value any) error {
	buf, err := encode(v, value)
	if err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), buf)
	})
}

// get loads key from bucket into out, or returns ErrNotFound.
func (db *DB) get(bucket []byte, key string, out any) error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucket).Get([]byte(key))
		if raw == nil {
			return fmt.Errorf("%s %q: %w", bucket, key, ErrNotFound)
		}
		return decode(raw, out)
	})
}

// del removes key from bucket, or returns ErrNotFound.
func (db *DB) del(bucket []byte, key string) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get([]byte(key)) == nil {
			return fmt.Errorf("%s %q: %w", bucket, key, ErrNotFound)
		}
		return b.Delete([]byte(key))
	})
}

// all decodes every value of bucket, in key order.
func all[T any](db *DB, bucket []byte) ([]T, error) {
	var out []T
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, raw []byte) error {
			var rec T
			if err := decode(raw, &rec); err != nil {
				return fmt.Errorf("%s %q: %w", bucket, k, err)
			}
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}

// update reads key over base (base alone when absent and !mustExist),
// applies fn and writes the result back in one transaction, so concurrent
// read-modify-writes do not lose updates.
func update[T any](db *DB, bucket []byte, key string, v int, base T, mustExist bool, fn func(*T) error) error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		rec := base
		if raw := b.Get([]byte(key)); raw != nil {
			if err := decode(raw, &rec); err != nil {
				return err
			}
		} else if mustExist {
			return fmt.Errorf("%s %q: %w", bucket, key, ErrNotFound)
		}
		if err := fn(&rec); err != nil {
			return err
		}
		buf, err := encode(v, rec)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), buf)
	})
}
