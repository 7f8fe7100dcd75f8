package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestConvertGGUF converts the demo GGUF as a user would: as it is (its
// Q4_1 weights stay 4-bit, group 32), and with --quantize on top (8-bit,
// group 64, from the dequantized weights), and asks the re-quantized model
// the demo question.
func TestConvertGGUF(t *testing.T) {
	mlxtest.Require(t)
	src := testutil.DemoGGUF(t)
	for _, tt := range []struct {
		name      string
		args      []string
		say       []string
		bits, grp int
	}{
		{"import", nil, []string{"wrote "}, 4, 32},
		{"quantize", []string{"--quantize", "--bits", "8", "--group-size", "64"}, []string{"quantized ", "bits per weight", "model.safetensors"}, 8, 64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "smol")
			code, stdout, stderr := run(t, RunConvert, append([]string{src, out}, tt.args...)...)
			if code != 0 {
				t.Fatalf("convert exit %d: %s", code, stderr)
			}
			for _, s := range tt.say {
				if !strings.Contains(stdout, s) {
					t.Errorf("convert output lacks %q:\n%s", s, stdout)
				}
			}
			cfg, err := model.ReadConfig(out)
			if err != nil {
				t.Fatal(err)
			}
			if q := cfg.Quantization; q == nil || q.Bits != tt.bits || q.GroupSize != tt.grp {
				t.Fatalf("quantization %+v, want %d bits, group %d", q, tt.bits, tt.grp)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Errorf("convert left %d entries beside the output, want none", len(entries)-1)
			}
			if tt.name != "quantize" {
				return
			}
			code, answer, stderr := run(t, RunGenerate, "--model", out, "--chat",
				"--prompt", "What is the capital of France?", "--max-tokens", "32")
			if code != 0 || !strings.Contains(answer, "Paris") {
				t.Errorf("generate: exit %d, answer %q does not name Paris (%s)", code, answer, stderr)
			}
		})
	}
}

// TestConvertRefusesBadGGUF checks that a file with the GGUF magic but a
// bad version fails with its name and leaves no output folder.
func TestConvertRefusesBadGGUF(t *testing.T) {
	mlxtest.Require(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "model.bin")
	if err := os.WriteFile(src, []byte("GGUF\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, _, stderr := run(t, RunConvert, src, out)
	if code != 1 || !strings.Contains(stderr, src) || !strings.Contains(stderr, "unsupported GGUF version 1") {
		t.Fatalf("exit %d, stderr %q; want 1 naming %s and the version", code, stderr, src)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output folder exists after a failed convert: %v", err)
	}
}
