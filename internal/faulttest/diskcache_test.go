package faulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// diskSettings turn the prefix cache on disk on.
var diskSettings = map[string]any{"cache": map[string]any{"persist_to_disk": true, "disk_cache_bytes": 256 << 20, "prompt_cache_bytes": 64 << 20}}

// storyPrompt is a long shared prefix (the cache keeps reused prefixes).
const storyPrompt = "You tell short stories about a small cat named Tom who lives in a house by the sea with a girl named Lily. " +
	"Tom likes fish, the sun and the soft red chair. Lily likes to read and to run on the beach."

// TestKillDuringDiskCacheServing serves with cache.persist_to_disk on until
// the prefix cache has written files, kills lmx serve (kill -9) while
// requests stream and the cache may be writing, plants what a kill can leave
// or a disk can do (an interrupted write's temporary file, a file cut in
// half under a real name), and restarts on the same data folder: the model
// loads, the temporary file is deleted, the cut file is refused (logged and
// removed, never loaded), and a prompt that was cached before the kill is
// answered from the disk cache with the same greedy answer as before.
func TestKillDuringDiskCacheServing(t *testing.T) {
	mlxtest.Require(t)
	in := newInstance(t)
	model := testmodel.StoriesChat(t, in.dir, "stories")
	first := in.start()
	mustCall(t, first.URL, "PUT", "/api/settings", diskSettings, nil)
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	srv := in.start("--model", model)
	want := greedy(t, srv.URL, "Tell me about Tom.")
	greedy(t, srv.URL, "Tell me about Tom.") // a prefix hit: written to disk
	cacheDir := filepath.Join(in.data, "prefix-cache")
	waitFor(t, time.Minute, "a prefix-cache file on disk", func() bool { return len(cacheFiles(t, cacheDir)) > 0 })

	stop := streamTraffic(srv.URL)
	time.Sleep(12 * time.Second) // past the 10 s write interval: another write may be in progress
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	stop()
	files := cacheFiles(t, cacheDir)
	t.Logf("killed with %d cache files: %v", len(files), files)
	tmp, cut := plantBadFiles(t, files[0])

	srv = in.start("--model", model)
	for _, p := range []string{tmp, cut} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the restart (%v)", p, err)
		}
	}
	if !strings.Contains(in.logText(), "ignoring "+cut) {
		t.Errorf("the restart did not log refusing %s", cut)
	}
	if got := greedy(t, srv.URL, "Tell me about Tom."); got != want {
		t.Errorf("after the restart the cached prompt answers %q, before %q", got, want)
	}
	if loads := diskStat(t, srv.URL, "loads"); loads < 1 {
		t.Errorf("the cached prompt was not loaded from disk (loads %d)", loads)
	}
}

// greedy sends one temperature-0 chat sharing storyPrompt and returns the
// answer.
func greedy(t *testing.T, url, user string) string {
	t.Helper()
	var r struct {
		Choices []struct{ Message struct{ Content string } }
	}
	mustCall(t, url, "POST", "/v1/chat/completions", map[string]any{"model": "stories", "temperature": 0, "max_tokens": 24,
		"messages": []map[string]string{{"role": "system", "content": storyPrompt}, {"role": "user", "content": user}}}, &r)
	if len(r.Choices) != 1 {
		t.Fatalf("%d choices", len(r.Choices))
	}
	return r.Choices[0].Message.Content
}

// streamTraffic keeps three clients sending chats that share storyPrompt
// (prefix hits: disk writes) until the returned stop is called.
func streamTraffic(url string) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	var n atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				i := n.Add(1)
				body := map[string]any{"model": "stories", "max_tokens": 48, "stream": i%2 == 0, "seed": i,
					"messages": []map[string]string{{"role": "system", "content": storyPrompt},
						{"role": "user", "content": fmt.Sprintf("Story %d about Tom and the %d fish.", i%7, i)}}}
				if _, err := call(url, "POST", "/v1/chat/completions", body, nil); err != nil && done.Load() {
					return
				}
			}
		}()
	}
	return func() { done.Store(true); wg.Wait() }
}

// cacheFiles lists the prefix cache's finished files (not temporary ones).
func cacheFiles(t *testing.T, dir string) []string {
	matches, err := filepath.Glob(filepath.Join(dir, "*", "*.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range matches {
		if !strings.HasPrefix(filepath.Base(m), ".tmp-") {
			out = append(out, m)
		}
	}
	return out
}

// plantBadFiles writes, beside real, an interrupted write's temporary file
// and real's first half under another real-looking name.
func plantBadFiles(t *testing.T, real string) (tmp, cut string) {
	b, err := os.ReadFile(real)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(real)
	tmp = filepath.Join(dir, ".tmp-killed.safetensors")
	cut = filepath.Join(dir, strings.Repeat("0", 32)+".safetensors")
	if err := os.WriteFile(tmp, b[:len(b)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	return tmp, cut
}

// diskStat reads one counter of the disk prefix cache from /api/stats.
func diskStat(t *testing.T, url, name string) int64 {
	var st struct {
		Models []struct {
			PrefixCache struct {
				Disk map[string]int64 `json:"disk"`
			} `json:"prefix_cache"`
		} `json:"models"`
	}
	mustCall(t, url, "GET", "/api/stats", nil, &st)
	var n int64
	for _, m := range st.Models {
		n += m.PrefixCache.Disk[name]
	}
	return n
}
