package apitest

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/store"
)

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// disconnectTokens is the answer length asked for; EOS is banned with
// logit_bias, so only a disconnect ends a request early.
const disconnectTokens = 400

// TestDisconnects serves the app in this process (so goroutines and MLX
// memory can be counted) and cancels 20 streaming requests at random
// points: each generation must stop at once (the next request does not wait
// for it), and no goroutine and no MLX memory may be left once they are gone.
func TestDisconnects(t *testing.T) {
	mlxtest.Require(t)
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	dir := chatModel(t)
	facts := factsOf(t, dir)
	url := serveDirInProcess(t, dir)
	logs := &lockedBuffer{}
	log.SetOutput(logs)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	tr := &http.Transport{}
	hc := &http.Client{Transport: tr}
	body := jsonBody(t, map[string]any{"model": facts.alias, "stream": true, "max_tokens": disconnectTokens, "logit_bias": facts.banEOS(),
		"messages": []map[string]string{{"role": "user", "content": "Tell me a long story."}}})
	start := time.Now()
	streamFor(t, hc, url, body, -1) // warm up: load, first allocations
	full := time.Since(start)
	tr.CloseIdleConnections()
	baseG, baseMem := settle(t)

	// Ten one after the other, each cancelled while it generates: were a
	// generation to go on, the next request would wait for the MLX thread.
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range 10 {
		if wait := streamFor(t, hc, url, body, 2+rng.IntN(40)); i > 0 && wait > full/2 {
			t.Errorf("request %d waited %v for its first token (a whole answer takes %v): the cancelled one before it kept generating", i, wait, full)
		}
	}
	// Ten at once, most cancelled while they wait for the MLX thread.
	var wg sync.WaitGroup
	for range 10 {
		stopAfter := rng.IntN(40)
		wg.Go(func() { streamFor(t, hc, url, body, stopAfter) })
	}
	wg.Wait()
	tr.CloseIdleConnections()
	if !waitFor(20*time.Second, func() bool { return runtime.NumGoroutine() <= baseG }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after the disconnects, %d before:\n%s", runtime.NumGoroutine(), baseG, buf[:runtime.Stack(buf, true)])
	}
	// The prefix cache keeps what the cancelled requests had prefilled (a
	// client that retries finds it); everything else must be gone.
	var mem engine.Memory
	var kept int64
	if !waitFor(10*time.Second, func() bool {
		mem, kept = memory(t), prefixCacheBytes(t, url)
		return mem.Active-kept <= baseMem.Active
	}) {
		t.Fatalf("MLX active memory %d bytes after the disconnects (%d of them in the prefix cache), %d before", mem.Active, kept, baseMem.Active)
	}
	checkLogged(t, facts.alias, logs.String())
}

// serveInProcess runs the real app (MLX engine, store, handler) on an
// httptest server with the test model loaded and returns its URL.
func serveInProcess(t *testing.T) string {
	t.Helper()
	return serveDirInProcess(t, chatModel(t))
}

// serveDirInProcess is serveInProcess for the model folder dir.
func serveDirInProcess(t *testing.T, dir string) string {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := app.New(app.Config{Version: "test"}, db, app.MetalEngine(), app.SystemMemory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if err := a.LoadEngine(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoadModel(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// streamFor sends a streaming chat request and reads stopAfter events (all
// when negative) before it goes away; it returns the time to the first
// token (the second event: the first carries the role).
func streamFor(t *testing.T, hc *http.Client, url, body string, stopAfter int) time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/chat/completions", strings.NewReader(body))
	resp, err := hc.Do(req)
	if err != nil {
		t.Errorf("stream: %v", err)
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Errorf("stream: %d %s", resp.StatusCode, b)
		return 0
	}
	var first time.Duration
	sc := bufio.NewScanner(resp.Body)
	for n := 0; (stopAfter < 0 || n < stopAfter) && sc.Scan(); {
		if strings.HasPrefix(sc.Text(), "data: ") {
			if n++; n == 2 {
				first = time.Since(start)
			}
		}
	}
	return first
}

// settle waits for the server to be idle and returns its goroutine count
// and MLX memory.
func settle(t *testing.T) (int, engine.Memory) {
	t.Helper()
	time.Sleep(500 * time.Millisecond)
	return runtime.NumGoroutine(), memory(t)
}

func memory(t *testing.T) engine.Memory {
	t.Helper()
	m, err := engine.MemoryStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkLogged reads the request log: one line per request, the warm-up
// complete (200, every token) and each cancelled one marked 499.
func checkLogged(t *testing.T, model, logs string) {
	t.Helper()
	logLine := regexp.MustCompile(`chat\.completions model=` + regexp.QuoteMeta(model) + ` prompt_tokens=\d+ \(cached \d+\) completion_tokens=(\d+) .* status=(\d+)`)
	lines := logLine.FindAllStringSubmatch(logs, -1)
	if len(lines) != 21 {
		t.Fatalf("%d request log lines, want 21:\n%s", len(lines), logs)
	}
	if lines[0][1] != strconv.Itoa(disconnectTokens) || lines[0][2] != "200" {
		t.Errorf("warm-up logged as %q, want %d tokens and status 200", lines[0][0], disconnectTokens)
	}
	for _, m := range lines[1:] {
		if m[2] != "499" {
			t.Errorf("a cancelled request logged as %q, want status 499", m[0])
		}
	}
}

// prefixCacheBytes is what the loaded models' prefix caches hold
// (/api/stats).
func prefixCacheBytes(t *testing.T, url string) int64 {
	var stats struct {
		Models []struct {
			PrefixCache struct{ Bytes int64 } `json:"prefix_cache"`
		}
	}
	getJSON(t, url+"/api/stats", &stats)
	var total int64
	for _, m := range stats.Models {
		total += m.PrefixCache.Bytes
	}
	return total
}
