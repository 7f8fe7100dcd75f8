package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/store"
)

func TestServeWithoutEngine(t *testing.T) {
	bin := guitest.Build(t)
	url := guitest.Serve(t, bin, guitest.NoEngineEnv())
	resp, err := http.Get(url + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s api.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/status = %d: %v", resp.StatusCode, err)
	}
	if s.Engine.Available {
		t.Fatal("engine available with LMX_MLX_LIB=/nonexistent from an empty folder")
	}
	for _, want := range []string{"/nonexistent/", "make mlx"} {
		if !strings.Contains(s.Engine.Error, want) {
			t.Errorf("engine error %q does not name %q", s.Engine.Error, want)
		}
	}
	if !s.Server.Running || s.Server.URL != url {
		t.Errorf("server %+v, want running at %s", s.Server, url)
	}
	if !strings.Contains(s.ModelHint, "lmx pull mlx-community/") || len(s.Models) != 0 {
		t.Errorf("empty library: hint %q, models %v; want how to get a model", s.ModelHint, s.Models)
	}
	if s.Memory == nil || s.Memory.Total == 0 {
		t.Errorf("memory %+v (%s), want the host's memory", s.Memory, s.MemoryError)
	}
	models, err := http.Get(url + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(models.Body)
	models.Body.Close()
	if models.StatusCode != 200 || !bytes.Contains(body, []byte(`"object":"list"`)) {
		t.Errorf("GET /v1/models = %d %s", models.StatusCode, body)
	}
}

func TestCommandLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	owned := t.TempDir()
	db, err := store.Open(owned)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"version", []string{"version"}, 0, "lmx ", ""},
		{"help", []string{"help"}, 0, "lmx pull mlx-community/", ""},
		{"ls of an empty library", []string{"ls", "--data-dir", t.TempDir(), "--hub-cache", t.TempDir()}, 0, "MODEL", ""},
		{"rm of a missing model", []string{"rm", "mlx-community/absent", "--data-dir", t.TempDir(), "--hub-cache", t.TempDir()}, 1, "", "not installed"},
		{"pull without a repo", []string{"pull"}, 2, "", "usage: lmx pull"},
		{"generate without a model", []string{"generate"}, 2, "", "usage: lmx generate"},
		{"unknown command", []string{"bogus"}, 2, "", `unknown command "bogus"`},
		{"bad flag value", []string{"serve", "--port", "http"}, 2, "", "invalid value"},
		{"stray argument", []string{"serve", "extra"}, 2, "", `unexpected argument "extra"`},
		{"port in use", []string{"serve", "--port", busyPort, "--data-dir", t.TempDir()}, 1, "", "address already in use"},
		{"all interfaces without key", []string{"serve", "--host", "0.0.0.0", "--data-dir", t.TempDir()}, 1, "", "API key is required"},
		{"all interfaces with an empty key", []string{"serve", "--host", "0.0.0.0", "--api-key", "", "--data-dir", t.TempDir()}, 1, "", "API key is required"},
		{"second instance", []string{"serve", "--port", "0", "--data-dir", owned}, 1, "",
			"LMX is already running (data dir " + owned + "); using that instance"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("LMX_API_KEY", "")
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), c.args, &stdout, &stderr)
			if code != c.wantCode || !strings.Contains(stdout.String(), c.wantStdout) || !strings.Contains(stderr.String(), c.wantStderr) {
				t.Errorf("lmx %v = %d\nstdout %q\nstderr %q\nwant %d, stdout ∋ %q, stderr ∋ %q",
					c.args, code, stdout.String(), stderr.String(), c.wantCode, c.wantStdout, c.wantStderr)
			}
		})
	}
}

// TestDarwinBuildWithoutCgo checks that the headless binary and the HTTP API
// build (and vet) for Apple Silicon without cgo: `lmx serve` must not need a
// C toolchain, and app/api must not pull in GUI code.
func TestDarwinBuildWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the standard library on a cold cache")
	}
	env := append(os.Environ(), "CGO_ENABLED=0", "GOOS=darwin", "GOARCH=arm64")
	for _, args := range [][]string{
		{"vet", "./app/api/"},
		{"build", "-o", os.DevNull, "./app/api/"},
		{"build", "-o", filepath.Join(t.TempDir(), "lmx"), "."},
	} {
		t.Run(strings.Join(args[:1], " ")+" "+args[len(args)-1], func(t *testing.T) {
			cmd := exec.Command("go", args...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go %v: %v\n%s", args, err, out)
			}
		})
	}
}
