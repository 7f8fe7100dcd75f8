// Package testutil finds the repository root and the shared fixtures for tests.
package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// RepoRoot returns the directory holding go.mod, walking up from the working
// directory (go test runs each package in its own folder).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Fixtures returns ../shared/fixtures beside the repository (CI lays shared/
// there) or $LMX_FIXTURES. The fixtures are required: a missing folder fails
// the test rather than skipping it.
func Fixtures(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("LMX_FIXTURES")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "..", "shared", "fixtures")
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Fatalf("fixtures not found at %s (set LMX_FIXTURES): %v", dir, err)
	}
	return dir
}

// Python returns the interpreter of the project's virtual environment
// ($LMX_PYTHON or .venv/bin/python), or "" when there is none.
func Python(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("LMX_PYTHON"); p != "" {
		return p
	}
	p := filepath.Join(RepoRoot(t), ".venv", "bin", "python")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Unavailable skips the test because something it needs is missing, or fails
// it when the environment variable requireVar is "1" (CI sets LMX_REQUIRE_MLX,
// LMX_REQUIRE_PY and LMX_REQUIRE_GUI), so a missing install never passes
// silently there.
func Unavailable(t testing.TB, requireVar, reason string) {
	t.Helper()
	if os.Getenv(requireVar) == "1" {
		t.Fatalf("%s=1 but: %s", requireVar, reason)
	}
	t.Skip(reason)
}

// ReadJSONL decodes every line of a JSON-lines file (the fixtures' goldens)
// into a T, failing the test on a bad line.
func ReadJSONL[T any](t testing.TB, path string) []T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []T
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("%s:%d: %v", path, i+1, err)
		}
		out = append(out, v)
	}
	return out
}

// DemoGGUF returns the path of the demo model's GGUF file (SmolLM2-135M-
// Instruct Q4_1), fetched once by build/demo-model.sh into the cache outside
// the repository. Without it (no registry) the test is skipped, or fails
// under LMX_REQUIRE_PY=1.
func DemoGGUF(t testing.TB) string {
	t.Helper()
	demoOnce.Do(func() {
		out, err := exec.Command(filepath.Join(RepoRoot(t), "build", "demo-model.sh")).Output()
		demoPath, demoErr = strings.TrimSpace(string(out)), err
		if ee, ok := err.(*exec.ExitError); ok {
			demoErr = fmt.Errorf("%v: %s", err, ee.Stderr)
		}
	})
	if demoErr != nil {
		Unavailable(t, "LMX_REQUIRE_PY", "demo model: build/demo-model.sh: "+demoErr.Error())
	}
	return demoPath
}

var (
	demoOnce sync.Once
	demoPath string
	demoErr  error
)
