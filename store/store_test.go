package store

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir
}

func TestSecondOpenReportsAlreadyRunning(t *testing.T) {
	_, dir := openTemp(t)
	start := time.Now()
	_, err := Open(dir)
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second open: got %v, want ErrAlreadyRunning", err)
	}
	if took := time.Since(start); took > 3*OpenTimeout {
		t.Errorf("second open took %v, want about %v", took, OpenTimeout)
	}
}

func TestReopenAfterCloseKeepsData(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateSettings(func(s *Settings) error { s.Server.Port = 9123; return nil }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	s, err := db.Settings()
	if err != nil || s.Server.Port != 9123 {
		t.Fatalf("settings after reopen: port %d, err %v; want 9123", s.Server.Port, err)
	}
}

func TestSettingsDefaultsAndValidation(t *testing.T) {
	db, _ := openTemp(t)
	s, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.Server.Host != "127.0.0.1" {
		t.Errorf("fresh install listens on %q, want loopback only", s.Server.Host)
	}
	if s.Serving.MaxSequences != 16 || s.Serving.MaxBatchTokens != 512 || s.Cache.DiskCacheBytes != 10<<30 || s.Pool.MaxModels != 0 {
		t.Errorf("fresh install serving %+v, disk cache %d, pool %+v", s.Serving, s.Cache.DiskCacheBytes, s.Pool)
	}
	tests := []struct {
		name string
		edit func(*Settings)
		bad  string // the field the error names; "" when the edit is valid
	}{
		{"port", func(s *Settings) { s.Server.Port = 70000 }, "server.port"},
		{"zero port", func(s *Settings) { s.Server.Port = 0 }, "server.port"},
		{"kv bits 7", func(s *Settings) { s.Cache.KVBits = 7 }, "cache.kv_bits"},
		{"kv bits 4", func(s *Settings) { s.Cache.KVBits = 4 }, ""},
		{"negative memory", func(s *Settings) { s.Memory.LimitBytes = -1 }, "memory.limit_bytes"},
		{"empty host", func(s *Settings) { s.Server.Host = "" }, "server.host"},
		{"cors", func(s *Settings) { s.Server.CORSOrigins = []string{"http://localhost:3000"} }, ""},
		{"negative cache limit", func(s *Settings) { s.Memory.CacheLimitBytes = -1 }, "memory.cache_limit_bytes"},
		{"negative disk cache", func(s *Settings) { s.Cache.DiskCacheBytes = -1 }, "cache.disk_cache_bytes"},
		{"negative max models", func(s *Settings) { s.Pool.MaxModels = -1 }, "pool.max_models"},
		{"pins", func(s *Settings) { s.Pool.MaxModels, s.Pool.Pinned = 2, []string{"org/a", "/models/b"} }, ""},
		{"empty pin", func(s *Settings) { s.Pool.Pinned = []string{"org/a", ""} }, "pool.pinned[1]"},
		{"no sequences", func(s *Settings) { s.Serving.MaxSequences = 0 }, "serving.max_sequences"},
		{"no batch tokens", func(s *Settings) { s.Serving.MaxBatchTokens = 0 }, "serving.max_batch_tokens"},
		{"draft", func(s *Settings) { s.Serving.DraftModels = map[string]string{"org/big": "org/small"} }, ""},
		{"self draft", func(s *Settings) { s.Serving.DraftModels = map[string]string{"org/big": "org/big"} }, `serving.draft_models["org/big"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := db.Settings()
			_, err := db.UpdateSettings(func(s *Settings) error { tt.edit(s); return nil })
			if (tt.bad == "") != (err == nil) {
				t.Fatalf("update: err %v, want invalid field %q", err, tt.bad)
			}
			var se *SettingError
			if tt.bad != "" && (!errors.Is(err, ErrInvalidSetting) || !errors.As(err, &se) || se.Field != tt.bad) {
				t.Errorf("error %v does not wrap ErrInvalidSetting naming %s", err, tt.bad)
			}
			after, _ := db.Settings()
			if tt.bad != "" && (after.Server.Port != before.Server.Port || after.Cache.KVBits != before.Cache.KVBits) {
				t.Errorf("a rejected update was stored")
			}
		})
	}
}

func TestMigratesV1Database(t *testing.T) {
	dir := t.TempDir()
	writeV1(t, filepath.Join(dir, FileName))
	db, err := Open(dir)
	if err != nil {
		t.Fatalf("open v1: %v", err)
	}
	defer db.Close()
	s, err := db.Settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.Server.Port != 1234 || s.Server.Host != "0.0.0.0" || s.Memory.LimitBytes != 512<<20 || !s.LaunchAtLogin {
		t.Errorf("v1 values lost: %+v", s)
	}
	if s.Cache.PromptCacheBytes != DefaultSettings().Cache.PromptCacheBytes {
		t.Errorf("setting absent in v1 did not take its default: %d", s.Cache.PromptCacheBytes)
	}
	m, err := db.Model("mlx-community/old")
	if err != nil || m.Architecture != "llama" || m.SizeBytes != 42 {
		t.Errorf("v1 model record: %+v, %v", m, err)
	}
	if _, err := db.CreateChat("new", "m"); err != nil {
		t.Errorf("v2 bucket missing after migration: %v", err)
	}
	assertSchema(t, db, SchemaVersion)
}

// writeV1 lays out a database as the first preview wrote it.
func writeV1(t *testing.T, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		meta.Put([]byte("schema"), []byte("1"))
		set, _ := tx.CreateBucket([]byte("settings"))
		for k, v := range map[string]string{"host": "0.0.0.0", "port": "1234", "memory_limit_mb": "512", "launch_at_login": "true", "retired_key": "x"} {
			set.Put([]byte(k), []byte(v))
		}
		models, _ := tx.CreateBucket([]byte("models"))
		return models.Put([]byte("mlx-community/old"), []byte(`{"id":"mlx-community/old","architecture":"llama","size_bytes":42}`))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func assertSchema(t *testing.T, db *DB, want int) {
	t.Helper()
	db.bolt.View(func(tx *bolt.Tx) error {
		if got := string(tx.Bucket(bucketMeta).Get(keySchema)); got != "2" {
			t.Errorf("schema %q, want %d", got, want)
		}
		return nil
	})
}

func TestRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	b, _ := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	b.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket([]byte("meta"))
		return meta.Put([]byte("schema"), []byte("99"))
	})
	b.Close()
	if _, err := Open(dir); !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("open newer schema: %v, want ErrNewerSchema", err)
	}
}

func TestModelRegistry(t *testing.T) {
	db, _ := openTemp(t)
	m := Model{ID: "mlx-community/a", Path: "/p", Architecture: "qwen3", SizeBytes: 10, Supported: true}
	if err := db.RegisterModel(m); err != nil {
		t.Fatal(err)
	}
	used := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := db.TouchModel(m.ID, used); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPinned(m.ID, true); err != nil {
		t.Fatal(err)
	}
	m.SizeBytes = 20 // re-scan after an update keeps usage and pin
	if err := db.RegisterModel(m); err != nil {
		t.Fatal(err)
	}
	got, err := db.Model(m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.SizeBytes != 20 || !got.Pinned || !got.LastUsedAt.Equal(used) || got.AddedAt.IsZero() {
		t.Errorf("after re-register: %+v", got)
	}
	if err := db.TouchModel("missing", used); !errors.Is(err, ErrNotFound) {
		t.Errorf("touch missing: %v, want ErrNotFound", err)
	}
	if err := db.DeleteModel(m.ID); err != nil {
		t.Fatal(err)
	}
	if ms, _ := db.Models(); len(ms) != 0 {
		t.Errorf("models after delete: %v", ms)
	}
}

func TestDownloadsPending(t *testing.T) {
	db, _ := openTemp(t)
	for id, st := range map[string]DownloadState{"a@main": DownloadRunning, "b@main": DownloadPaused, "c@main": DownloadDone, "d@main": DownloadQueued} {
		if err := db.PutDownload(Download{ID: id, State: st, Files: []DownloadFile{{Name: "f", Size: 3}}}); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := db.Downloads()
	if err != nil {
		t.Fatal(err)
	}
	var pending []string
	for _, d := range ds {
		if d.Pending() {
			pending = append(pending, d.ID)
		}
	}
	if strings.Join(pending, ",") != "a@main,d@main" {
		t.Errorf("pending %v, want the running and queued ones", pending)
	}
	d, err := db.UpdateDownload("a@main", func(d *Download) { d.Files[0].Done = true; d.State = DownloadDone })
	if err != nil || !d.Files[0].Done || d.Pending() {
		t.Errorf("update: %+v %v", d, err)
	}
}

func TestChats(t *testing.T) {
	db, _ := openTemp(t)
	a, err := db.CreateChat("first", "m1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := db.CreateChat("second", "m2")
	time.Sleep(2 * time.Millisecond)
	if _, err := db.AppendMessages(a.ID, ChatMessage{Role: "user", Content: "hi"}, ChatMessage{Role: "assistant", Content: "hello"}); err != nil {
		t.Fatal(err)
	}
	list, err := db.Chats()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != a.ID || list[0].Messages != 2 || list[1].ID != b.ID {
		t.Errorf("chats not most-recent first with counts: %+v", list)
	}
	got, _ := db.Chat(a.ID)
	if got.Messages[1].Content != "hello" || got.Messages[0].CreatedAt.IsZero() {
		t.Errorf("messages: %+v", got.Messages)
	}
	if err := db.DeleteChat(b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Chat(b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted chat: %v", err)
	}
}

func TestDataDir(t *testing.T) {
	t.Setenv("LMX_DATA_DIR", "/x/lmx")
	if d, _ := DataDir(); d != "/x/lmx" {
		t.Errorf("LMX_DATA_DIR ignored: %s", d)
	}
	t.Setenv("LMX_DATA_DIR", "")
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_DATA_HOME", "")
	want := map[string]string{"darwin": "/home/u/Library/Application Support/LMX", "linux": "/home/u/.local/share/lmx"}[runtime.GOOS]
	if d, _ := DataDir(); want != "" && d != want {
		t.Errorf("default data dir %s, want %s", d, want)
	}
	if runtime.GOOS == "linux" {
		t.Setenv("XDG_DATA_HOME", "/xdg")
		if d, _ := DataDir(); d != "/xdg/lmx" {
			t.Errorf("XDG_DATA_HOME ignored: %s", d)
		}
	}
}

func TestAPIKeyHash(t *testing.T) {
	// FIPS 180-2's SHA-256 test vector for "abc".
	if got := HashAPIKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashAPIKey(abc) = %s", got)
	}
	if got := HashAPIKey(""); got != "" {
		t.Errorf("HashAPIKey(\"\") = %s, want \"\" (no key required)", got)
	}
	stored := HashAPIKey("sk-local-1")
	tests := []struct {
		key  string
		want bool
	}{{"sk-local-1", true}, {"sk-local-2", false}, {"", false}, {stored, false}}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := KeyMatches(tt.key, stored); got != tt.want {
				t.Errorf("KeyMatches(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}
