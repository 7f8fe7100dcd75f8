package store

import (
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// SchemaVersion is the database layout this LMX writes.
//
// v1 (the first preview) kept settings as one flat key per setting with
// plain-text values and model records as bare JSON. v2 stores every value
// in a versioned envelope, settings as one document, and adds the
// downloads and chats buckets.
const SchemaVersion = 2

var keySchema = []byte("schema")

// migrations[i] upgrades a database from version i+1 to i+2.
var migrations = []func(tx *bolt.Tx) error{
	migrateV1toV2,
}

// migrate creates missing buckets and runs every pending migration in one
// write transaction, so a crash leaves the old or the new layout, never a mix.
func (db *DB) migrate() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("create meta bucket: %w", err)
		}
		version, err := schemaOf(meta)
		if err != nil {
			return err
		}
		if version > SchemaVersion {
			return fmt.Errorf("schema v%d, this LMX knows v%d: %w", version, SchemaVersion, ErrNewerSchema)
		}
		for v := version; v >= 1 && v < SchemaVersion; v++ {
			if err := migrations[v-1](tx); err != nil {
				return fmt.Errorf("migrate schema v%d to v%d: %w", v, v+1, err)
			}
		}
		if err := createBuckets(tx); err != nil {
			return err
		}
		return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
}

// schemaOf reads the stored schema version; a fresh file has none (0).
func schemaOf(meta *bolt.Bucket) (int, error) {
	raw := meta.Get(keySchema)
	if raw == nil {
		return 0, nil
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return 0, fmt.Errorf("read schema version %q: %w", raw, err)
	}
	return v, nil
}

// createBuckets makes sure every bucket of the current schema exists.
func createBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketSettings, bucketModels, bucketDownloads, bucketChats, bucketResponses} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateV1toV2 folds v1's flat settings keys into one Settings document
// (unknown keys are dropped, missing ones take defaults) and wraps v1's bare
// model records in envelopes.
func migrateV1toV2(tx *bolt.Tx) error {
	if err := migrateSettingsV1(tx); err != nil {
		return err
	}
	return wrapBareRecords(tx.Bucket(bucketModels), modelRecordVersion)
}

// migrateSettingsV1 converts the v1 flat settings bucket.
func migrateSettingsV1(tx *bolt.Tx) error {
	old := tx.Bucket(bucketSettings)
	s := DefaultSettings()
	if old != nil {
		if err := old.ForEach(func(k, v []byte) error { return applyV1Setting(&s, string(k), string(v)) }); err != nil {
			return err
		}
		if err := tx.DeleteBucket(bucketSettings); err != nil {
			return fmt.Errorf("drop v1 settings: %w", err)
		}
	}
	b, err := tx.CreateBucket(bucketSettings)
	if err != nil {
		return fmt.Errorf("create settings bucket: %w", err)
	}
	buf, err := encode(settingsRecordVersion, s)
	if err != nil {
		return err
	}
	return b.Put(keySettings, buf)
}

// applyV1Setting sets one v1 key; v1 stored numbers and booleans as text.
func applyV1Setting(s *Settings, key, value string) error {
	var err error
	switch key {
	case "host":
		s.Server.Host = value
	case "port":
		s.Server.Port, err = strconv.Atoi(value)
	case "api_key_hash":
		s.Server.APIKeyHash = value
	case "memory_limit_mb":
		var mb int64
		mb, err = strconv.ParseInt(value, 10, 64)
		s.Memory.LimitBytes = mb << 20
	case "launch_at_login":
		s.LaunchAtLogin, err = strconv.ParseBool(value)
	}
	if err != nil {
		return fmt.Errorf("v1 setting %s=%q: %w", key, value, err)
	}
	return nil
}

// wrapBareRecords puts every bare JSON value of b into a version-v envelope.
func wrapBareRecords(b *bolt.Bucket, v int) error {
	if b == nil {
		return nil
	}
	type kv struct{ k, v []byte }
	var rewrites []kv
	err := b.ForEach(func(k, raw []byte) error {
		if !json.Valid(raw) {
			return fmt.Errorf("record %q is not JSON", k)
		}
		buf, err := json.Marshal(envelope{V: v, Data: append([]byte(nil), raw...)})
		rewrites = append(rewrites, kv{append([]byte(nil), k...), buf})
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range rewrites {
		if err := b.Put(r.k, r.v); err != nil {
			return fmt.Errorf("rewrite record %q: %w", r.k, err)
		}
	}
	return nil
}
