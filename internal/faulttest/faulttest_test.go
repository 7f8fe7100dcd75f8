// Package faulttest kills the real `lmx serve` with SIGKILL (kill -9) in
// the middle of work that writes to disk, restarts it on the same data
// folder, and checks that everything opens and nothing half-written is
// used: the disk prefix cache while serving, a model download, and store
// writes (settings and chats).
package faulttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/soak"
)

// bin is the lmx binary TestMain builds once for every test.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lmx-faulttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "lmx")
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err == nil {
		cmd := exec.Command("go", "build", "-o", bin, ".")
		cmd.Dir = strings.TrimSpace(string(root))
		var out []byte
		if out, err = cmd.CombinedOutput(); err != nil {
			err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttest:", err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// instance is one data folder that servers are started on, in turn.
type instance struct {
	t    *testing.T
	dir  string
	data string
	log  string
	env  []string
}

func newInstance(t *testing.T, env ...string) *instance {
	dir := t.TempDir()
	in := &instance{t: t, dir: dir, data: filepath.Join(dir, "data"), log: filepath.Join(dir, "serve.log"),
		env: append(append(os.Environ(), "HF_HUB_CACHE="+filepath.Join(dir, "hub")), env...)}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(in.log)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("lmx serve log (tail):\n%s", b)
		}
	})
	return in
}

// start runs lmx serve on the instance's data folder; it is killed when
// the test ends if still running.
func (in *instance) start(args ...string) *soak.Server {
	in.t.Helper()
	srv, err := soak.Start(bin, in.data, in.log, in.env, 2*time.Minute, args...)
	if err != nil {
		in.t.Fatal(err)
	}
	in.t.Cleanup(func() {
		if !srv.Exited() {
			_ = srv.Stop()
		}
	})
	return srv
}

// logText is the servers' combined log so far.
func (in *instance) logText() string {
	b, _ := os.ReadFile(in.log)
	return string(b)
}

// call sends a request with a JSON body (nil: none) and decodes a 2xx JSON
// answer into out (nil: discarded); it returns the status.
func call(url, method, path string, body, out any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	client := http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d: %.300s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

// mustCall is call that fails the test on an error.
func mustCall(t *testing.T, url, method, path string, body, out any) {
	t.Helper()
	if _, err := call(url, method, path, body, out); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 200 ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
