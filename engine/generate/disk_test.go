package generate

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// logLines collects a DiskCache's log lines (written on the MLX thread).
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// diskEnv is a fixture model with a disk cache directory.
type diskEnv struct {
	f    *fixture
	dir  string
	id   string
	opts arch.CacheOptions
	r    *rand.Rand
}

func newDiskEnv(t *testing.T, name string, opts arch.CacheOptions) *diskEnv {
	f := loadFixture(t, name)
	id, err := ModelID(filepath.Join(modelsDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return &diskEnv{f: f, dir: t.TempDir(), id: id, opts: opts, r: rand.New(rand.NewPCG(3, 4))}
}

func (e *diskEnv) tokens(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(3 + e.r.IntN(e.f.vocab-3))
	}
	return out
}

// open indexes the directory and starts a scheduler with a prefix cache
// on it; log collects what the disk cache logs.
func (e *diskEnv) open(t *testing.T, limit int64) (*Scheduler, *DiskCache, *logLines) {
	t.Helper()
	log := &logLines{}
	d, err := NewDiskCache(e.dir, limit, e.id, log.logf)
	if err != nil {
		t.Fatal(err)
	}
	return newTestScheduler(t, e.f, SchedulerOptions{PrefixCacheBytes: 64 << 20, Disk: d}), d, log
}

// run generates prompt on s and checks the tokens against Generate alone.
func (e *diskEnv) run(t *testing.T, s *Scheduler, prompt []int32, max int) *Result {
	t.Helper()
	req := Request{Prompt: prompt, MaxTokens: max, Cache: e.opts}
	res, err := s.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if alone := e.f.generate(t, req, nil); !slices.Equal(res.Tokens, alone.Tokens) {
		t.Errorf("with %d cached tokens %v, alone %v", res.CachedTokens, res.Tokens, alone.Tokens)
	}
	return res
}

// files returns the tokens of each file in the model's cache folder.
func (e *diskEnv) files(t *testing.T) map[string][]int32 {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(e.dir, e.id, "*.safetensors"))
	out := map[string][]int32{}
	for _, p := range paths {
		h, err := model.ReadHeader(p)
		if err != nil {
			t.Fatal(err)
		}
		if out[p], err = decodeTokens(h.Metadata[metaTokens]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A prefix reused in memory is written once; a new scheduler over the same
// folder and model (a restart) gives a request sharing it its cached
// tokens, with the tokens it produces alone — for a standard, a quantized
// and a rotating (sliding-window) KV cache.
func TestDiskPrefixCacheSurvivesRestart(t *testing.T) {
	tests := []struct {
		name, fixture    string
		opts             arch.CacheOptions
		prompt, max, cut int
	}{
		{"kv", "llama", arch.CacheOptions{}, 120, 6, 90},
		{"quantized", "qwen3", arch.CacheOptions{KVBits: 8, KVGroupSize: 32}, 80, 5, 50},
		{"rotating", "gemma3_text", arch.CacheOptions{}, 5, 2, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDiskEnv(t, tt.fixture, tt.opts)
			a := e.tokens(tt.prompt)
			s, _, log := e.open(t, 64<<20)
			e.run(t, s, a, tt.max)
			if again := e.run(t, s, a, tt.max); again.CachedTokens != len(a)-1 {
				t.Fatalf("repeat: %d cached tokens, want %d", again.CachedTokens, len(a)-1)
			}
			if st := s.Stats().Prefix.Disk; st.Writes != 1 || st.Files != 1 {
				t.Fatalf("after a reuse: %+v, want one file written", st)
			}
			s.Close()

			s2, d2, _ := e.open(t, 64<<20)
			if st := d2.stats(); st.Files != 1 || st.Rejected != 0 {
				t.Fatalf("after the restart: %+v, want one file indexed (log: %s)", st, log)
			}
			b := append(slices.Clone(a[:tt.cut]), e.tokens(7)...)
			res := e.run(t, s2, b, tt.max)
			if res.CachedTokens != tt.cut {
				t.Errorf("after the restart: %d cached tokens, want %d (%s)", res.CachedTokens, tt.cut, res.Cache.Explain())
			}
			if st := s2.Stats().Prefix.Disk; st.Loads != 1 || st.Writes != 0 {
				t.Errorf("after the restart: %+v, want one load and no write", st)
			}
		})
	}
}

// A truncated file, garbage in its header or tensors, a file with tensors
// of the wrong shape, another model's and another version's file are each
// ignored with a log line naming it: the request runs as if there were no
// file. Broken files are removed, foreign ones left in place. A file of
// another cache layout is valid for requests of that layout: it is kept,
// unlogged, and not used for the others.
func TestDiskBadFilesAreIgnored(t *testing.T) {
	e := newDiskEnv(t, "llama", arch.CacheOptions{})
	a := e.tokens(60)
	s, _, _ := e.open(t, 64<<20)
	e.run(t, s, a, 4)
	e.run(t, s, a, 4)
	s.Close()
	var good string
	for p := range e.files(t) {
		good = p
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// resave rewrites the good file with meta and arrays changed by edit,
	// the checksum recomputed when resum is set.
	resave := func(edit func(map[string]*metal.Array, map[string]string), resum bool) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			mlxtest.Do(t, func() error {
				arrays, meta, err := metal.LoadSafetensors(good)
				if err != nil {
					return err
				}
				edit(arrays, meta)
				if resum {
					layers, err := decodeLayers(meta[metaLayers])
					if err != nil {
						return err
					}
					if meta[metaSum], err = fileSum(meta, layers, arrays); err != nil {
						return err
					}
				}
				return metal.SaveSafetensors(path, arrays, meta)
			})
		}
	}
	write := func(b []byte) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	garbage := func(at int) []byte {
		b := slices.Clone(raw)
		for i := range 16 {
			b[at+i] ^= 0x5a
		}
		return b
	}
	tests := []struct {
		name    string
		make    func(t *testing.T, path string)
		log     string // in the log line; "" for none
		removed bool
	}{
		{"truncated", write(raw[:len(raw)-100]), "truncated", true},
		{"garbage header", write(garbage(12)), "header", true},
		{"garbage tensors", write(garbage(len(raw) - 64)), "tensors do not match their checksum", true},
		{"wrong shape", resave(func(ar map[string]*metal.Array, _ map[string]string) {
			k := ar["l0.0"]
			ar["l0.0"] = metal.Slice(k, []int{0, 0, 0, 0}, []int{k.Dim(0), k.Dim(1), k.Dim(2) - 1, k.Dim(3)})
		}, true), "positions", true},
		{"another model", resave(func(_ map[string]*metal.Array, m map[string]string) { m[metaModel] = "other" }, true), "written for model", false},
		{"another version", resave(func(_ map[string]*metal.Array, m map[string]string) { m[metaVersion] = "0" }, false), "format version", false},
		{"another layout", resave(func(_ map[string]*metal.Array, m map[string]string) { m[metaLayout] = "kv16/0/g0" }, true), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.dir = t.TempDir()
			if err := os.MkdirAll(filepath.Join(e.dir, e.id), 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(e.dir, e.id, filepath.Base(good))
			tt.make(t, path)
			s, _, log := e.open(t, 64<<20)
			b := append(slices.Clone(a[:40]), e.tokens(5)...)
			if res := e.run(t, s, b, 4); res.CachedTokens != 0 {
				t.Errorf("%d cached tokens from a bad file", res.CachedTokens)
			}
			t.Log(log)
			st := s.Stats().Prefix.Disk
			if tt.log == "" {
				if log.String() != "" || st.Rejected != 0 {
					t.Errorf("a valid file was rejected: %s", log)
				}
			} else if !strings.Contains(log.String(), path) || !strings.Contains(log.String(), tt.log) || st.Rejected != 1 {
				t.Errorf("log %q, %d rejected; want one line naming %s with %q", log, st.Rejected, path, tt.log)
			}
			if _, err := os.Stat(path); (err != nil) != tt.removed {
				t.Errorf("file removed: %v, want %v", err != nil, tt.removed)
			}
		})
	}
}

// The size cap deletes the least recently used file: of A, B, C written in
// that order with A used again after B, B goes when C comes.
func TestDiskSizeCapDropsLeastRecentlyUsed(t *testing.T) {
	e := newDiskEnv(t, "llama", arch.CacheOptions{})
	prompts := [][]int32{e.tokens(50), e.tokens(50), e.tokens(50)}
	twice := func(s *Scheduler, p []int32) {
		e.run(t, s, p, 4)
		e.run(t, s, p, 4)
	}
	probe, pd, _ := e.open(t, 64<<20)
	pd.minInterval = 0
	twice(probe, e.tokens(50))
	size := probe.Stats().Prefix.Disk.Bytes
	probe.Close()

	e.dir = t.TempDir()
	s, d, _ := e.open(t, size*5/2)
	d.minInterval = 0
	twice(s, prompts[0])
	twice(s, prompts[1])
	e.run(t, s, prompts[0], 4) // a hit: A's file is now newer than B's
	twice(s, prompts[2])
	st := s.Stats().Prefix.Disk
	if st.Writes != 3 || st.Evicted != 1 || st.Files != 2 {
		t.Errorf("%+v, want 3 writes, 1 eviction, 2 files", st)
	}
	var kept []int
	for _, toks := range e.files(t) {
		for i, p := range prompts {
			if slices.Equal(toks[:len(p)], p) {
				kept = append(kept, i)
			}
		}
	}
	slices.Sort(kept)
	if !slices.Equal(kept, []int{0, 2}) {
		t.Errorf("files of prompts %v remain, want A and C (0, 2)", kept)
	}
}

// Only reused entries are written, once each, and no faster than the rate
// limit: a second reused entry within diskMinInterval waits.
func TestDiskWritesOnlyReusedEntries(t *testing.T) {
	e := newDiskEnv(t, "llama", arch.CacheOptions{})
	s, _, _ := e.open(t, 64<<20)
	a, b := e.tokens(40), e.tokens(40)
	e.run(t, s, a, 4)
	e.run(t, s, b, 4)
	if st := s.Stats().Prefix.Disk; st.Writes != 0 || len(e.files(t)) != 0 {
		t.Fatalf("entries used once: %+v, %d files; want nothing written", st, len(e.files(t)))
	}
	e.run(t, s, a, 4)
	e.run(t, s, a, 4)
	e.run(t, s, b, 4)
	st := s.Stats().Prefix.Disk
	if st.Writes != 1 || st.Deferred != 1 || len(e.files(t)) != 1 {
		t.Errorf("%+v, %d files; want A written once and B held back by the rate limit", st, len(e.files(t)))
	}
}

// ModelID tells models apart and is stable.
func TestDiskModelID(t *testing.T) {
	ids := map[string]string{}
	for _, name := range []string{"llama", "llama", "mistral"} {
		id, err := ModelID(filepath.Join(modelsDir(t), name))
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := ids[name]; ok && prev != id {
			t.Errorf("%s: id %s then %s", name, prev, id)
		}
		ids[name] = id
	}
	if ids["llama"] == ids["mistral"] {
		t.Errorf("llama and mistral share id %s", ids["llama"])
	}
}
