package cli

import (
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestBenchAlternatesWithMLXLM runs lmx bench --compare-mlx-lm end to end
// on stories260k with real mlx_lm: each engine does --runs runs, the two
// take turns run by run (each run ends before the other engine's next one
// starts), both generate the fixture model's greedy tokens, and every
// figure, spread and ratio agrees with the runs it comes from.
func TestBenchAlternatesWithMLXLM(t *testing.T) {
	mlxtest.Require(t)
	dir, _ := stories(t)
	py := testutil.Python(t)
	if py == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with mlx_lm (run build/setup.sh py or set LMX_PYTHON)")
	}
	args := []string{"--model", dir, "--prompt-tokens", "32", "--gen-tokens", "16", "--runs", "3",
		"--compare-mlx-lm", "--python", py}
	code, stdout, stderr := run(t, RunBench, append(args, "--json")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	l, m := rep.LMX, rep.MLXLM
	if l == nil || m == nil || l.Engine != "lmx" || m.Engine != "mlx_lm" || l.Device == "" || m.MLXLMVersion == "" {
		t.Fatalf("report %s", stdout)
	}
	checkAlternating(t, l.Runs, m.Runs, 3)
	if len(l.Generated) != 16 || !slices.Equal(m.Generated, l.Generated) || !*rep.SameTokens {
		t.Errorf("lmx generated %v, mlx_lm %v: want the same 16 greedy tokens", l.Generated, m.Generated)
	}
	for _, e := range []struct {
		name string
		r    *bench.Result
	}{{"lmx", l}, {"mlx_lm", m}} {
		checkFigures(t, e.name, e.r, rep.Figures[e.name])
	}
	checkVersus(t, rep)
	t.Logf("stories260k, prompt 32, gen 16, 3 runs: lmx prefill %.0f decode %.0f tok/s; mlx_lm prefill %.0f decode %.0f tok/s",
		l.PrefillTPS, l.DecodeTPS, m.PrefillTPS, m.DecodeTPS)

	t.Run("text", func(t *testing.T) {
		code, out, errOut := run(t, RunBench, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		checkSpreads(t, out, "lmx ")
		checkSpreads(t, out, "mlx_lm ")
		ratios := regexp.MustCompile(`(\d+\.\d\d)x`).FindAllString(lineOf(t, out, "lmx/mlx_lm "), -1)
		if len(ratios) != 3 || !regexp.MustCompile(`3 runs of each after a warm-up, alternating`).MatchString(out) {
			t.Errorf("output lacks the 3 ratios or the order of runs:\n%s", out)
		}
	})
}

// TestBenchLMXAlone: without a comparison the report holds LMX's runs and
// figures only.
func TestBenchLMXAlone(t *testing.T) {
	mlxtest.Require(t)
	dir, _ := stories(t)
	code, stdout, stderr := run(t, RunBench, "--model", dir, "--prompt-tokens", "16", "--gen-tokens", "4",
		"--runs", "2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in %s", err, stdout)
	}
	if rep.MLXLM != nil || rep.Ratio != nil || rep.Versus != nil || len(rep.Figures) != 1 || len(rep.LMX.Runs) != 2 {
		t.Fatalf("report %s: want LMX's 2 runs alone", stdout)
	}
	checkFigures(t, "lmx", rep.LMX, rep.Figures["lmx"])
}

// checkAlternating checks that both engines did n runs and that they ran
// in turn: LMX's run i, then mlx_lm's run i, then LMX's run i+1, none
// starting before the previous one's timed work could have ended.
func checkAlternating(t *testing.T, lmx, ref []bench.Run, n int) {
	t.Helper()
	if len(lmx) != n || len(ref) != n {
		t.Fatalf("lmx did %d runs, mlx_lm %d, want %d each", len(lmx), len(ref), n)
	}
	var order []bench.Run
	for i := range n {
		order = append(order, lmx[i], ref[i])
	}
	for i, r := range order {
		if r.Started.IsZero() {
			t.Fatalf("run %d has no start time", i)
		}
		if i == 0 {
			continue
		}
		prev := order[i-1]
		end := prev.Started.Add(time.Duration((prev.PrefillSeconds + prev.DecodeSeconds) * float64(time.Second)))
		if r.Started.Before(end) {
			t.Errorf("run %d of the ABAB order started at %v, before run %d ended (%v)", i, r.Started, i-1, end)
		}
	}
}

// checkFigures checks one engine's result and spreads against its runs:
// every figure finite and positive, medians and ranges recomputed from the
// runs, the peak the largest run's.
func checkFigures(t *testing.T, name string, r *bench.Result, f Figures) {
	t.Helper()
	var prefill, decode, peak []float64
	for _, run := range r.Runs {
		prefill = append(prefill, run.PrefillTPS)
		decode = append(decode, run.DecodeTPS)
		peak = append(peak, float64(run.PeakMemoryBytes))
	}
	for _, c := range []struct {
		figure string
		runs   []float64
		s      Spread
	}{{"prefill", prefill, f.PrefillTPS}, {"decode", decode, f.DecodeTPS}, {"peak", peak, f.PeakMemoryBytes}} {
		for _, v := range append(c.runs, c.s.Median, c.s.Min, c.s.Max) {
			if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
				t.Fatalf("%s %s: %v is not finite and positive (runs %v, spread %+v)", name, c.figure, v, c.runs, c.s)
			}
		}
		want := Spread{Median: median(c.runs), Min: slices.Min(c.runs), Max: slices.Max(c.runs)}
		if c.s != want {
			t.Errorf("%s %s spread %+v, want %+v from the runs %v", name, c.figure, c.s, want, c.runs)
		}
	}
	if r.PrefillTPS != f.PrefillTPS.Median || r.DecodeTPS != f.DecodeTPS.Median ||
		float64(r.PeakMemoryBytes) != f.PeakMemoryBytes.Max {
		t.Errorf("%s result medians/peak %v %v %v disagree with its spreads %+v", name, r.PrefillTPS, r.DecodeTPS,
			r.PeakMemoryBytes, f)
	}
}

// checkVersus checks the ratios against the two engines' spreads.
func checkVersus(t *testing.T, rep Report) {
	t.Helper()
	a, b := rep.Figures["lmx"], rep.Figures["mlx_lm"]
	for _, c := range []struct {
		figure string
		v      Versus
		a, b   Spread
	}{{"prefill", rep.Versus.Prefill, a.PrefillTPS, b.PrefillTPS}, {"decode", rep.Versus.Decode, a.DecodeTPS, b.DecodeTPS},
		{"peak", rep.Versus.Memory, a.PeakMemoryBytes, b.PeakMemoryBytes}} {
		ratio := c.a.Median / c.b.Median
		level := c.a.Min <= c.b.Max && c.b.Min <= c.a.Max
		if c.v.Ratio != ratio || c.v.Level != level || math.IsNaN(ratio) || math.IsInf(ratio, 0) {
			t.Errorf("%s: versus %+v, want ratio %v level %v", c.figure, c.v, ratio, level)
		}
	}
	if rep.Ratio.Prefill != rep.Versus.Prefill.Ratio || rep.Ratio.Decode != rep.Versus.Decode.Ratio {
		t.Errorf("ratio %+v disagrees with versus %+v", rep.Ratio, rep.Versus)
	}
}
