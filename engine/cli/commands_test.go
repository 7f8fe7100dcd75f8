package cli

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
)

func TestConvertThenGenerate(t *testing.T) {
	mlxtest.Require(t)
	dir, ref := stories(t)
	out := filepath.Join(t.TempDir(), "stories-8bit")
	code, stdout, stderr := run(t, RunConvert, dir, out, "--quantize", "--bits", "8")
	if code != 0 {
		t.Fatalf("convert exit %d: %s", code, stderr)
	}
	for _, s := range []string{"quantized ", "bits per weight", "left in float", "mlp.down_proj", "model.safetensors"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("convert output lacks %q:\n%s", s, stdout)
		}
	}
	code, text, stderr := run(t, RunGenerate, "--model", out, "--max-tokens", "20")
	want := ref.Metadata("greedy_from_bos_text")
	if code != 0 || len(text) < 40 || !strings.HasPrefix(want, strings.TrimSuffix(text, "\n")[:40]) {
		t.Errorf("generate on the 8-bit folder: exit %d, %q (%s); want the start of %q", code, text, stderr, want[:40])
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func(context.Context, []string, io.Writer, io.Writer) int
		args []string
	}{
		{"generate without --model", RunGenerate, []string{"--prompt", "hi"}},
		{"generate unknown flag", RunGenerate, []string{"--model", "x", "--bogus"}},
		{"convert one argument", RunConvert, []string{"only-source"}},
		{"bench one generated token", RunBench, []string{"--model", "x", "--gen-tokens", "1"}},
		{"bench stray argument", RunBench, []string{"--model", "x", "extra"}},
		{"bench llama.cpp on a folder", RunBench, []string{"--model", "x", "--compare-llamacpp"}},
		{"bench llama.cpp and mlx_lm", RunBench, []string{"--model", "x.gguf", "--compare-llamacpp", "--compare-mlx-lm"}},
		{"bench no threads", RunBench, []string{"--model", "x.gguf", "--compare-llamacpp", "--threads", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, tt.fn, tt.args...)
			if code != 2 || !strings.Contains(stderr, "usage: lmx") {
				t.Errorf("exit %d, stderr %q: want 2 and the usage", code, stderr)
			}
		})
	}
}

func TestGenerateChatNeedsTemplate(t *testing.T) {
	mlxtest.Require(t)
	dir, _ := stories(t)
	code, _, stderr := run(t, RunGenerate, "--model", dir, "--prompt", "hi", "--chat")
	if code != 1 || !strings.Contains(stderr, "no chat template") {
		t.Errorf("exit %d, stderr %q: want 1 and the missing template", code, stderr)
	}
}
