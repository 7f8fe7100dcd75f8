package generate

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
)

// gemma4Wide is the gemma4_text_h64 fixture (two of its five layers read an
// earlier layer's keys and values) with a sliding window of 512 instead of
// 6: its rotating caches never wrap in these prompts, so the prefix cache
// can cut them back anywhere (with 6 it refuses every cached prefix).
func gemma4Wide(t *testing.T) string {
	var src string
	for _, dir := range fixtureNames(t) {
		if filepath.Base(dir) == "gemma4_text_h64" {
			src = dir
		}
	}
	if src == "" {
		t.Fatal("no gemma4_text_h64 fixture")
	}
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "config.json" {
			if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["sliding_window"] = 512
	if data, err = json.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Gemma 4's KV-shared layers hold no keys and values and read their source
// layer's cache on every path a cache takes through the scheduler: batched
// decode (a cache.Rows of them), prefill chunks, the prefix cache (an entry
// keeps the sources; a hit restores and cuts them back) and its disk copy
// read after a restart, with standard and with quantized KV caches. Every
// request gives exactly the tokens it gives alone.
func TestKVSharedLayersInScheduler(t *testing.T) {
	dir := gemma4Wide(t)
	f := loadFixture(t, dir)
	if !cachesAre(t, f, func(cs []cache.Cache) bool {
		return slices.ContainsFunc(cs, func(c cache.Cache) bool { _, ok := c.(*cache.Shared); return ok })
	}) {
		t.Fatal("no layer of the fixture reads another's cache")
	}
	id, err := ModelID(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		opts arch.CacheOptions
	}{
		{"kv", arch.CacheOptions{}},
		{"quantized", arch.CacheOptions{KVBits: 8, KVGroupSize: 32}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cases := batchCases(f, 12, true)
			req := func(c batchCase) Request {
				r := greedyReq(c)
				r.Cache, r.PrefillChunk = tt.opts, 5
				return r
			}
			want := f.alone(t, cases, req)
			diskDir := t.TempDir()
			open := func() *Scheduler {
				d, err := NewDiskCache(diskDir, 64<<20, id, t.Logf)
				if err != nil {
					t.Fatal(err)
				}
				return NewScheduler(f.m, f.vocab, SchedulerOptions{MaxSequences: 8, PrefixCacheBytes: 64 << 20, Disk: d})
			}
			s := open()
			got := batched(t, s, cases[:6], req, 2*time.Millisecond)
			got = append(got, batched(t, s, cases[6:], req, 2*time.Millisecond)...)
			for i := range cases {
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("request %d (prompt %d tokens): batched %v, alone %v", i, len(cases[i].prompt), got[i], want[i])
				}
			}
			st := s.Stats()
			s.Close()
			t.Logf("%d rows in %d decode steps; prefix: %d hits (%d tokens), %d bytes in %d entries, %d files written",
				st.BatchedRows, st.DecodeSteps, st.Prefix.Hits, st.Prefix.HitTokens, st.Prefix.Bytes, st.Prefix.Entries, st.Prefix.Disk.Writes)
			if st.BatchedRows <= st.DecodeSteps || st.Prefix.Hits == 0 || st.Prefix.Disk.Writes == 0 {
				t.Fatalf("want batched steps, prefix hits and files written: %d rows in %d steps, %+v", st.BatchedRows, st.DecodeSteps, st.Prefix)
			}

			// A restart: the prompts come back from the files.
			s = open()
			defer s.Close()
			loaded := 0
			for i := range cases {
				res, err := s.Generate(t.Context(), req(cases[i]), nil)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(res.Tokens, want[i]) {
					t.Errorf("after the restart, request %d with %d cached tokens: %v, alone %v", i, res.CachedTokens, res.Tokens, want[i])
				}
				if res.CachedTokens > 0 {
					loaded++
				}
			}
			t.Logf("after the restart: %d of %d requests reused a prefix, %+v", loaded, len(cases), s.Stats().Prefix.Disk)
			if st := s.Stats().Prefix.Disk; st.Loads == 0 || loaded == 0 {
				t.Errorf("after the restart no prefix came from disk: %+v", st)
			}
		})
	}
}
