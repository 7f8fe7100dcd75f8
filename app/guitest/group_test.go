package guitest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/openapitest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestServeAcrossTwoProcesses runs the real binary as a group of two on this
// machine: "lmx worker --rank 1" and "lmx serve --hosts" (rank 0) with one
// model split across the group and one served by rank 0 alone. It checks the
// group in the status (both ranks holding about half the split model), a
// chat answer from the split model, then kills the worker (SIGKILL) in the
// middle of a streamed answer: the stream must end with an error within a
// bounded time, the split model must be reported unavailable while the
// local one keeps answering, and once the worker runs again the group forms
// again and the split model gives the same answer as before; then freezes
// the worker (SIGSTOP) mid-stream: the stream fails within the group
// timeout, and once the worker is restarted the group forms again. With Chromium
// at hand, the Dashboard's Group panel is checked while ready and lost.
func TestServeAcrossTwoProcesses(t *testing.T) {
	mlxtest.Require(t)
	frontend := ""
	if browserAvailable() {
		frontend = requireBrowser(t)
	}
	bin := Build(t)
	root := t.TempDir()
	split := testmodel.Qwen3Tiny(t, root, "qwen3-split")
	local := testmodel.Qwen3Tiny(t, root, "qwen3-local")
	hosts := filepath.Join(root, "hosts.json")
	if err := os.WriteFile(hosts, []byte(`[{"ssh": "localhost", "ips": ["127.0.0.1"]}, {"ssh": "localhost", "ips": ["127.0.0.1"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePortPair(t)
	env := append(os.Environ(), "LMX_MLX_LIB="+mlxLib(t))
	worker := startWorker(t, bin, env, hosts, port, filepath.Join(root, "worker"))
	url := Serve(t, bin, env, "--hosts", hosts, "--group-port", fmt.Sprint(port), "--group-timeout", groupTimeout.String(),
		"--split-model", "qwen3-split", "--model", split, "--model", local)

	st := status(t, url)
	g := st.Group
	if g == nil || g.State != "ready" || len(g.Ranks) != 2 || g.LinkGBps <= 0 {
		t.Fatalf("group %+v, want ready with 2 ranks and a measured link", g)
	}
	for _, r := range g.Ranks {
		if r.ActiveBytes <= 0 {
			t.Errorf("rank %d holds %d bytes", r.Rank, r.ActiveBytes)
		}
	}
	t.Logf("ranks %+v, link %.2f GB/s", g.Ranks, g.LinkGBps)
	if frontend != "" {
		runScript(t, frontend, "group.mjs", 2*time.Minute, "ready", url, artifacts(t))
	}

	before := chat(t, url, "qwen3-split", 200)
	if before == "" {
		t.Fatal("empty answer from the split model")
	}

	// Kill the worker while the split model streams.
	stream := startStream(t, url, "qwen3-split")
	stream.waitChunks(t, 3)
	worker.kill()
	killed := time.Now()
	body, err := stream.wait(60 * time.Second)
	if err != nil {
		t.Fatalf("the stream did not end %v after the worker died: %v", time.Since(killed), err)
	}
	t.Logf("stream ended %v after the kill", time.Since(killed).Round(time.Millisecond))
	if strings.Contains(body, "[DONE]") || !strings.Contains(body, `"error"`) {
		t.Errorf("the stream ended without an error event:\n%s", tail(body, 800))
	}
	if time.Since(killed) > 30*time.Second {
		t.Errorf("the stream took %v to fail", time.Since(killed))
	}

	// The split model is unavailable (503); the local one still answers.
	code, msg := post(t, url, "qwen3-split")
	if code != http.StatusServiceUnavailable {
		t.Errorf("split model after the loss: %d %s, want 503", code, msg)
	}
	if got := chat(t, url, "qwen3-local", 200); got == "" {
		t.Error("the local model stopped answering")
	}
	if g := status(t, url).Group; g == nil || g.State == "ready" {
		t.Errorf("group after the loss: %+v", g)
	}
	if frontend != "" {
		runScript(t, frontend, "group.mjs", 2*time.Minute, "lost", url, artifacts(t))
	}

	// The worker comes back: the group forms again.
	worker = startWorker(t, bin, env, hosts, port, filepath.Join(root, "worker"))
	waitFormed(t, url, 2, worker)
	if after := chat(t, url, "qwen3-split", 200); after != before {
		t.Errorf("after the group formed again: %q, before: %q", after, before)
	}

	// Freeze the worker (SIGSTOP: its connections stay open, it answers
	// nothing) while the split model streams: the stream must end with an
	// error within the group timeout (plus slack), the split model must be
	// unavailable while the local one answers, and once the frozen machine
	// is restarted the group forms a third time and answers as before.
	stream = startStream(t, url, "qwen3-split")
	stream.waitChunks(t, 3)
	worker.freeze(t)
	frozen := time.Now()
	body, err = stream.wait(60 * time.Second)
	if err != nil {
		t.Fatalf("the stream did not end %v after the worker froze: %v", time.Since(frozen), err)
	}
	t.Logf("stream ended %v after the freeze", time.Since(frozen).Round(time.Millisecond))
	if strings.Contains(body, "[DONE]") || !strings.Contains(body, "no answer from the group within "+groupTimeout.String()) {
		t.Errorf("the stream ended without the group's timeout as its error:\n%s", tail(body, 800))
	}
	if took := time.Since(frozen); took > groupTimeout+15*time.Second {
		t.Errorf("the stream took %v to fail, with a group timeout of %v", took, groupTimeout)
	}
	code, msg = post(t, url, "qwen3-split")
	if code != http.StatusServiceUnavailable {
		t.Errorf("split model while the worker is frozen: %d %s, want 503", code, msg)
	}
	if got := chat(t, url, "qwen3-local", 200); got == "" {
		t.Error("the local model stopped answering while the worker is frozen")
	}
	worker.kill()
	worker = startWorker(t, bin, env, hosts, port, filepath.Join(root, "worker"))
	waitFormed(t, url, 3, worker)
	if after := chat(t, url, "qwen3-split", 200); after != before {
		t.Errorf("after the frozen worker came back: %q, before: %q", after, before)
	}
}

// groupTimeout is the server's --group-timeout in TestServeAcrossTwoProcesses.
const groupTimeout = 3 * time.Second

// waitFormed waits for the group to be ready, formed n times.
func waitFormed(t *testing.T, url string, n int, worker *process) {
	deadline := time.Now().Add(90 * time.Second)
	for {
		g := status(t, url).Group
		if g != nil && g.State == "ready" && g.Formed == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group did not form again: %+v\nworker:\n%s", g, worker.output())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// freePortPair finds p with p and p+1 free on loopback (the ring's ports).
func freePortPair(t *testing.T) int {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		ln.Close()
		if err == nil {
			ln2.Close()
			return p
		}
	}
	t.Fatal("no two consecutive free ports")
	return 0
}

// mlxLib is the built MLX runtime the child processes load.
func mlxLib(t *testing.T) string {
	if dir := os.Getenv("LMX_MLX_LIB"); dir != "" {
		return dir
	}
	return filepath.Join(testutil.RepoRoot(t), "build", "lib")
}

// process is a child lmx process with its output kept.
type process struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out strings.Builder
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// freeze stops the process (SIGSTOP): its connections stay open, it
// answers nothing, as a frozen machine would; kill ends it.
func (p *process) freeze(t *testing.T) {
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP: %v", err)
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// startWorker runs "lmx worker --rank 1"; it is killed when the test ends.
func startWorker(t *testing.T, bin string, env []string, hosts string, port int, data string) *process {
	p := &process{}
	p.cmd = exec.Command(bin, "worker", "--hosts", hosts, "--rank", "1", "--group-port", fmt.Sprint(port), "--data-dir", data)
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = env, p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("worker output:\n%s", p.output())
		}
	})
	return p
}

// status reads /api/status and checks it against the server's own OpenAPI
// document.
func status(t *testing.T, url string) api.Status {
	resp, err := http.Get(url + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var s api.Status
	if resp.StatusCode != 200 || json.Unmarshal(body, &s) != nil {
		t.Fatalf("GET /api/status = %d %s", resp.StatusCode, body)
	}
	doc, err := http.Get(url + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(doc.Body)
	doc.Body.Close()
	spec, err := openapitest.Parse(url+"/api/openapi.json", raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := spec.CheckResponse(openapitest.Operation{Method: "GET", Path: "/api/status"}, 200, "application/json", body); err != nil {
		t.Errorf("/api/status does not match the document: %v", err)
	}
	return s
}

// chatBody is a greedy chat request.
func chatBody(model string, stream bool, maxTokens int) string {
	return fmt.Sprintf(`{"model":%q,"stream":%v,"max_tokens":%d,"temperature":0,"messages":[{"role":"user","content":"Count to twenty, please."}]}`, model, stream, maxTokens)
}

// post sends a short chat request and returns the status and body.
func post(t *testing.T, url, model string) (int, string) {
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(chatBody(model, false, 8)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// chat returns a greedy answer's text.
func chat(t *testing.T, url, model string, maxTokens int) string {
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(chatBody(model, false, maxTokens)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &r) != nil || len(r.Choices) != 1 {
		t.Fatalf("chat with %s = %d %s", model, resp.StatusCode, b)
	}
	return r.Choices[0].Message.Content
}

// stream is a streamed chat answer being read.
type stream struct {
	mu     sync.Mutex
	body   strings.Builder
	chunks int
	done   chan error
}

func startStream(t *testing.T, url, model string) *stream {
	s := &stream{done: make(chan error, 1)}
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(chatBody(model, true, 100000)))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.body.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "data: ") {
				s.chunks++
			}
			s.mu.Unlock()
		}
		s.done <- sc.Err()
	}()
	return s
}

func (s *stream) waitChunks(t *testing.T, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := s.chunks
		s.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d chunks in 60 s", n)
}

// wait waits for the stream's end and returns its body.
func (s *stream) wait(limit time.Duration) (string, error) {
	select {
	case err := <-s.done:
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.body.String(), err
	case <-time.After(limit):
		return "", fmt.Errorf("still streaming after %v", limit)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// browserAvailable reports whether the browser checks can run (or must:
// LMX_REQUIRE_GUI=1 makes requireBrowser fail without them).
func browserAvailable() bool {
	if os.Getenv("LMX_REQUIRE_GUI") == "1" {
		return true
	}
	root, err := os.Getwd()
	if err != nil {
		return false
	}
	frontend := filepath.Join(root, "..", "..", "frontend")
	for _, p := range []string{filepath.Join(frontend, "dist", "index.html"), filepath.Join(frontend, "node_modules", "playwright-core"), chromiumPath()} {
		if _, err := os.Stat(p); err != nil {
			return false
		}
	}
	_, err = exec.LookPath("node")
	return err == nil
}
