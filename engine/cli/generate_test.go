package cli

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
)

// stories returns the stories260k fixture folder and its reference file.
func stories(t *testing.T) (string, *bench.Tensors) {
	dir := filepath.Join(testutil.Fixtures(t), "models", "stories260k")
	ref, err := bench.ReadTensors(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, ref
}

// run calls a command function and returns its exit code and outputs.
func run(t *testing.T, fn func(context.Context, []string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := fn(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestGenerateReproducesStories(t *testing.T) {
	mlxtest.Require(t)
	dir, ref := stories(t)
	tests := []struct {
		name, prompt, want string
		maxTokens          int
	}{
		{"from BOS", "", ref.Metadata("greedy_from_bos_text"), 200},
		{"prompt", ref.Metadata("prompt_text"), ref.Metadata("prompt_greedy_text"), 64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == "" {
				t.Fatal("reference metadata missing")
			}
			code, out, errOut := run(t, RunGenerate, "--model", dir, "--prompt", tt.prompt,
				"--max-tokens", strconv.Itoa(tt.maxTokens))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if got := strings.TrimSuffix(out, "\n"); got != tt.want {
				t.Errorf("generated\n%q\nwant\n%q", got, tt.want)
			}
			for _, s := range []string{"prompt: ", "tokens/s", "generation: ", "peak memory: "} {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			t.Logf("stats:\n%s", errOut)
		})
	}
}

// TestGenerateDemoModelAnswers runs the demo chat model as a user would, from
// its GGUF file: greedy, chat template, a factual question.
func TestGenerateDemoModelAnswers(t *testing.T) {
	mlxtest.Require(t)
	GGUFCacheDir = func() (string, error) { return t.TempDir(), nil }
	t.Cleanup(func() { GGUFCacheDir = nil })
	code, out, errOut := run(t, RunGenerate, "--model", testutil.DemoGGUF(t), "--chat",
		"--prompt", "What is the capital of France?", "--max-tokens", "32")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Paris") {
		t.Errorf("answer %q does not name Paris", out)
	}
	t.Logf("answer: %q\n%s", out, errOut)
}
