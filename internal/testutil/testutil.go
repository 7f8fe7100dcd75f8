// Package testutil finds the repository root and the shared fixtures for tests.
package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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
	return demoModel.path(t, "demo model")
}

// Gemma3GGUF returns the path of Gemma 3 270M's GGUF file (the base model,
// Q4_K_M), fetched once by build/gemma3-model.sh (235 MB) into the cache
// outside the repository. Tests that use it are slow, so they run only
// with LMX_TEST_GEMMA3=1 (make test-gemma3) and are skipped otherwise;
// with it set, a failed download fails the test.
func Gemma3GGUF(t testing.TB) string {
	t.Helper()
	if os.Getenv("LMX_TEST_GEMMA3") != "1" {
		t.Skip("Gemma 3 270M tests download 235 MB and take minutes: set LMX_TEST_GEMMA3=1 (make test-gemma3)")
	}
	return gemma3Model.path(t, "Gemma 3 270M")
}

var (
	demoModel   = &fetched{script: "demo-model.sh", require: "LMX_REQUIRE_PY"}
	gemma3Model = &fetched{script: "gemma3-model.sh", require: "LMX_TEST_GEMMA3"}
)

// fetched is a model file a build/ script downloads into the cache and
// names on stdout, run once per test binary.
type fetched struct {
	script  string
	require string // the variable under which a failure fails instead of skipping
	once    sync.Once
	file    string
	err     error
}

// path runs the script the first time and returns the file it printed.
func (f *fetched) path(t testing.TB, what string) string {
	t.Helper()
	f.once.Do(func() {
		out, err := exec.Command(filepath.Join(RepoRoot(t), "build", f.script)).Output()
		f.file, f.err = strings.TrimSpace(string(out)), err
		if ee, ok := err.(*exec.ExitError); ok {
			f.err = fmt.Errorf("%v: %s", err, ee.Stderr)
		}
	})
	if f.err != nil {
		Unavailable(t, f.require, what+": build/"+f.script+": "+f.err.Error())
	}
	return f.file
}

// CopyFile copies src to dst (created or truncated) with src's permission
// bits, failing the test on any error.
func CopyFile(t testing.TB, src, dst string) {
	t.Helper()
	info, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
	if err == nil {
		_, err = io.Copy(out, in)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// PatchConfig applies fn to the JSON object in dir's config.json and writes
// it back, failing the test on any error. Numbers are kept as written
// (json.Number): 7.0 stays 7.0, which Hugging Face's strict config classes
// require of a float field.
func PatchConfig(t testing.TB, dir string, fn func(cfg map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	fn(cfg)
	if data, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// MLXLMTypes are the text-only model types that mlx_lm knows only by their
// wrapper's name, reading a config without text_config as the text model's
// (engine/bench/mlx_lm_logits.py holds the same table for its loads).
var MLXLMTypes = map[string]string{"qwen3_5_text": "qwen3_5", "qwen3_5_moe_text": "qwen3_5_moe"}

// AsMLXLMType is a PatchConfig function: it renames a model type of
// MLXLMTypes to the name mlx_lm knows and leaves other configs alone.
func AsMLXLMType(cfg map[string]any) {
	if typ, _ := cfg["model_type"].(string); MLXLMTypes[typ] != "" {
		cfg["model_type"] = MLXLMTypes[typ]
	}
}
