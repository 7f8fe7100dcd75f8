package cli

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/llamacpp"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestBenchBesideLlamaCpp runs lmx bench --compare-llamacpp end to end on
// the demo GGUF with tiny settings and checks that every figure is printed:
// each engine's prefill, decode and peak memory as a median within its
// range, and the three ratios.
func TestBenchBesideLlamaCpp(t *testing.T) {
	mlxtest.Require(t)
	if err := llamacpp.Available(); err != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", err.Error())
	}
	path := testutil.DemoGGUF(t)
	GGUFCacheDir = func() (string, error) { return t.TempDir(), nil }
	t.Cleanup(func() { GGUFCacheDir = nil })
	code, out, errOut := run(t, RunBench, "--model", path, "--compare-llamacpp",
		"--prompt-tokens", "16", "--gen-tokens", "4", "--runs", "2", "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, row := range []string{"lmx ", "llama.cpp "} {
		checkSpreads(t, out, row)
	}
	ratios := regexp.MustCompile(`(\d+\.\d\d)x`).FindAllStringSubmatch(lineOf(t, out, "lmx/llama.cpp "), -1)
	if len(ratios) != 3 {
		t.Errorf("ratio row has %d ratios, want 3:\n%s", len(ratios), out)
	}
	for _, s := range []string{"node-llama-cpp 3.", "1 threads", "2 runs of each",
		"peak memory: lmx = MLX's peak allocation", "llama.cpp = the node process's peak RSS"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	t.Logf("\n%s", out)
}

// checkSpreads checks that the row starting with name has three positive
// figures, each a median within its printed range.
func checkSpreads(t *testing.T, out, name string) {
	t.Helper()
	re := regexp.MustCompile(`(\d+\.\d) \((\d+\.\d)–(\d+\.\d)\)`)
	m := re.FindAllStringSubmatch(lineOf(t, out, name), -1)
	if len(m) != 3 {
		t.Fatalf("row %q has %d figures, want 3:\n%s", name, len(m), out)
	}
	for _, f := range m {
		med, _ := strconv.ParseFloat(f[1], 64)
		lo, _ := strconv.ParseFloat(f[2], 64)
		hi, _ := strconv.ParseFloat(f[3], 64)
		if med <= 0 || lo > med || med > hi {
			t.Errorf("row %q: %s is not a positive median within its range", name, f[0])
		}
	}
}

// lineOf returns the output line starting with prefix.
func lineOf(t *testing.T, out, prefix string) string {
	t.Helper()
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("no line starting with %q in:\n%s", prefix, out)
	return ""
}

func TestCompareSaysLevelWhenRangesOverlap(t *testing.T) {
	fig := func(lo, med, hi float64) Figures {
		s := Spread{Median: med, Min: lo, Max: hi}
		return Figures{PrefillTPS: s, DecodeTPS: s, PeakMemoryBytes: s}
	}
	tests := []struct {
		name  string
		a, b  Figures
		ratio float64
		level bool
	}{
		{"faster, apart", fig(18, 20, 22), fig(9, 10, 11), 2, false},
		{"overlapping", fig(9, 10, 12), fig(11, 12, 13), 10.0 / 12, true},
		{"touching", fig(10, 11, 12), fig(12, 13, 14), 11.0 / 13, true},
		{"slower, apart", fig(4, 5, 6), fig(9, 10, 11), 0.5, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := compare(tt.a, tt.b)
			for _, v := range []Versus{c.Prefill, c.Decode, c.Memory} {
				if v.Ratio != tt.ratio || v.Level != tt.level {
					t.Errorf("compare = %+v, want ratio %g level %v", v, tt.ratio, tt.level)
				}
			}
			if got := versus(c.Decode); strings.Contains(got, "level") != tt.level {
				t.Errorf("versus = %q, level %v", got, tt.level)
			}
		})
	}
}
