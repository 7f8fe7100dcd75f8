package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/store"
)

// TestClearPrefixCaches runs a real model with its prefix cache kept on
// disk until a prompt is cached in memory and in a file, then clears: the
// answer counts what went, the model's cache is empty in memory and on
// disk, and no cache file is left in the data folder.
func TestClearPrefixCaches(t *testing.T) {
	mlxtest.Require(t)
	db := openStore(t, "")
	if _, err := db.UpdateSettings(func(s *store.Settings) error {
		s.Cache.PromptCacheBytes = 64 << 20
		s.Cache.PersistToDisk = true
		s.Cache.DiskCacheBytes = 256 << 20
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	a, err := New(Config{Version: "v-test", DataDir: data}, db, MetalEngine(), SystemMemory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	t.Cleanup(func() { _ = a.applyMemoryLimits(store.DefaultSettings()) })
	if err := a.LoadEngine(); err != nil {
		t.Fatal(err)
	}
	id := testmodel.StoriesChat(t, t.TempDir(), "stories-cache")
	a.addRunFolder(id)
	ctx := context.Background()
	m, err := a.Model(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	prompt := make([]int32, 64)
	for i := range prompt {
		prompt[i] = int32(1 + i%200)
	}
	// A prompt reused from memory is written to disk (at most so often).
	waitFor(t, 20*time.Second, "a prefix cache file on disk", func() bool {
		if _, err := greedy(ctx, m, prompt, 4); err != nil {
			t.Fatal(err)
		}
		return m.Stats().Prefix.Disk.Files > 0
	})
	before := m.Stats().Prefix
	files, _ := filepath.Glob(filepath.Join(data, "prefix-cache", "*", "*.safetensors"))
	if before.Entries == 0 || len(files) == 0 {
		t.Fatalf("before clearing: %d entries in memory, files %v", before.Entries, files)
	}

	got, err := a.ClearPrefixCaches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Models) != 1 || got.MemoryEntries != before.Entries || got.MemoryBytes != before.Bytes ||
		got.DiskFiles != len(files) || got.DiskBytes <= 0 {
		t.Errorf("ClearPrefixCaches = %+v; before: %d entries, %d bytes, %d files", got, before.Entries, before.Bytes, len(files))
	}
	after := m.Stats().Prefix
	if after.Entries != 0 || after.Bytes != 0 || after.Disk.Files != 0 || after.Disk.Bytes != 0 {
		t.Errorf("after clearing: %+v", after)
	}
	if left, _ := filepath.Glob(filepath.Join(data, "prefix-cache", "*", "*.safetensors")); len(left) > 0 {
		t.Errorf("cache files left: %v", left)
	}
	// The model still serves, and caches again.
	if _, err := greedy(ctx, m, prompt, 4); err != nil {
		t.Fatal(err)
	}
	if m.Stats().Prefix.Entries == 0 {
		t.Error("the cache does not fill again after clearing")
	}
}
