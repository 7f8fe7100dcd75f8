package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/internal/testutil"
)

// readmeRunCommand is the first command of the README's first code block:
// the one that sets up and runs LMX.
func readmeRunCommand(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```sh\n([^\n#]+)").FindSubmatch(b)
	if m == nil {
		t.Fatal("README has no sh code block")
	}
	return strings.TrimSpace(string(m[1]))
}

// TestReadmeRunCommandServesTheDemoModel runs the README's run command as a
// new user would — no display, a fresh data dir, model cache and Hugging Face
// cache — and expects LMX serving the demo model it fetched and imported.
func TestReadmeRunCommandServesTheDemoModel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole setup and fetches the demo model")
	}
	testutil.DemoGGUF(t) // skip-or-fail where the registry cannot be reached
	cmdline := readmeRunCommand(t)
	if cmdline != "make run" {
		t.Fatalf("README's run command is %q; this test knows how to drive `make run`", cmdline)
	}
	tmp := t.TempDir()
	cmd := exec.Command("make", "run")
	cmd.Dir = testutil.RepoRoot(t)
	cmd.Env = append(withoutDisplay(os.Environ()),
		"LMX_DATA_DIR="+filepath.Join(tmp, "data"), "LMX_CACHE_DIR="+filepath.Join(tmp, "cache"),
		"HF_HUB_CACHE="+filepath.Join(tmp, "hub"),
		"ARGS=--port 0") // make reads ARGS from the environment: a free port
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	url, loaded := waitServing(t, bufio.NewScanner(stdout), 15*time.Minute)
	if !strings.Contains(loaded, filepath.Join(tmp, "data", "gguf")) {
		t.Errorf("loaded %q, want the demo model imported into the fresh data dir", loaded)
	}
	var s api.Status
	getJSON(t, url+"/api/status", &s)
	found := false
	for _, m := range s.Models {
		found = found || (m.Supported && m.ID == loaded)
	}
	if !found || s.ModelHint != "" {
		t.Errorf("status lists models %+v (hint %q), want the demo model %s", s.Models, s.ModelHint, loaded)
	}
}

// withoutDisplay drops the display variables, so make run starts lmx serve.
func withoutDisplay(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "DISPLAY=") && !strings.HasPrefix(kv, "WAYLAND_DISPLAY=") {
			out = append(out, kv)
		}
	}
	return out
}

// waitServing reads make run's output until LMX prints its URL and the
// model it loaded.
func waitServing(t *testing.T, sc *bufio.Scanner, limit time.Duration) (url, model string) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	lines := make(chan string)
	go func() {
		defer close(lines)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for url == "" || model == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("make run ended (url %q, model %q)", url, model)
			}
			t.Log(line)
			if _, u, ok := strings.Cut(line, " serving at "); ok {
				url = u
			}
			if m, ok := strings.CutPrefix(line, "loaded model "); ok {
				model = m
			}
		case <-ctx.Done():
			t.Fatalf("make run: no URL and model after %v (url %q, model %q)", limit, url, model)
		}
	}
	go func() {
		for range lines { // keep draining so lmx never blocks on stdout
		}
	}()
	return url, model
}

// getJSON decodes a GET response body into v.
func getJSON(t *testing.T, url string, v any) {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d: %v", url, resp.StatusCode, err)
	}
}
