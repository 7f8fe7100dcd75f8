package arch

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// bfloat16Fixtures lists the folders of engine/arch/testdata/models_bfloat16
// (every folder there, no list): the fixtures of gen_fixtures.py written with
// --dtype bfloat16, weights and reference both computed in bfloat16 by
// transformers. They live beside models/, not in it, so that the tests which
// run every float32 fixture (1e-4 bounds) do not pick them up.
func bfloat16Fixtures(t *testing.T) []string {
	root := filepath.Join(testutil.RepoRoot(t), "engine", "arch", "testdata", "models_bfloat16")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no bfloat16 fixtures in %s", root)
	}
	return dirs
}

// TestBFloat16Fixtures runs every bfloat16 fixture (transformers' weights
// and reference logits both in bfloat16) through LMX in bfloat16.
//
// Two bfloat16 implementations round differently, so their logits differ by
// about 1% even when both are right (8 bits of mantissa, roundings in a
// different order): a fixed 1e-4 bound cannot hold. What a user relies on is
// that LMX in bfloat16 is about as close to the exact result as the
// reference implementation is. So both are measured against the same
// weights run in float32 by LMX (the float32 path is held to 1e-4 of
// transformers by TestFixtureLogits): LMX's error (worst of the three
// prompts) may be at most 3 times transformers' and at most 15%. A wrong
// rope, norm or mask in a bfloat16 path gives errors of tens of percent.
//
// Seen on the 21 fixtures before qwen3_5_moe_h128: LMX's worst error
// 0.6–2% on every architecture but the recurrent ones, where rounding
// compounds over the steps: gpt-oss (sinks, 4.5%), Qwen3-Next (5.9%, 8.2%)
// and Qwen3.5 (9.7%). transformers' errors are of the same size (Qwen3.5
// 4.8%, the largest ratio, 2.0; Qwen3-Next 27% in its chunked kernel on the
// 23-token prompt). qwen3_5_moe_h128: LMX 10% (its 1-token prompt),
// transformers 7.1%. LMX's Gated DeltaNet rounds as mlx_lm's does
// (TestHybridBfloat16MatchesMLX holds them equal): q and k in the input
// dtype, the state in float32.
//
// Greedy decoding is checked step by step with the reference's tokens fed
// back (teacher forcing) through LMX in bfloat16 and through the float32 run
// of the same weights, so one rounding flip cannot derail the rest. Where
// LMX's pick is neither transformers' token nor the float32 run's, it must
// be within 3% of the float32 row's logit range of that row's best (a
// near-tie that bfloat16 rounding decides), or no further from it than
// transformers' token is; at most 4 of the 20 steps may be such flips.
// Where LMX agrees with the float32 run and transformers' bfloat16 does
// not, transformers' token must be within 3% of the float32 row's range of
// it (so a fault LMX's float32 and bfloat16 paths share still fails here),
// and the step is not LMX's flip. Seen over the 22 fixtures: 5 such steps,
// transformers' token at most 0.8% below; 5 flips of LMX's own, the largest
// 2.5% of the range below.
//
// Models that route tokens to experts get one allowance each way, because a
// router's choice among close gates is decided by rounding and a different
// expert is a discrete change that no bound on rounding error covers: one of
// the three prompts may exceed the logits bound (up to 50%), and one greedy
// step's pick may lie up to 10% of the range below the float32 run's best.
// The committed fixtures need neither. Seen on two drafts of
// qwen3_5_moe_h128 (hidden 80 and 96, replaced so that the quantized tests
// have widths the group sizes divide): at hidden 80, a near-tie in layer 0
// (experts 0 and 1 at 0.1279 and 0.1309 in bfloat16, 0.1296 and 0.1283 in
// float32) made one prompt 41% off, the others 2.2% and 11% (transformers
// 2.7% and 4.1%); at hidden 96, layer 2's router at greedy step 18 gave
// expert 0 a gate of 0.178 and expert 3 0.167 in bfloat16 (0.165 and 0.224
// in float32), so LMX's pick was 5.8% below the float32 run's best
// (transformers' 1.4%), while transformers' own 23-token prompt was 30% off
// (LMX's 5.2%). mlx_lm rounded and routed as LMX did on both drafts
// (TestHybridBfloat16MatchesMLX: relative error 0). A wrong bfloat16 path
// fails every prompt and many steps, not one.
func TestBFloat16Fixtures(t *testing.T) {
	mlxtest.Require(t)
	for _, dir := range bfloat16Fixtures(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadModel(t, dir)
			exact := loadModel(t, upcast(t, dir))
			ref := readReference(t, dir)
			routed := routesExperts(t, dir)
			var eLMX, eRef [3]float64
			for i := range 3 {
				ids := ref.ints[name("input_ids", i)]
				want := ref.floats[name("logits", i)]
				got := logitsOf(t, m, ids, nil)
				x := logitsOf(t, exact, ids, nil)
				eLMX[i], eRef[i] = relErr(got, x), relErr(want, x)
				t.Logf("prompt %d (%d tokens): LMX vs transformers %.3g; vs float32 of the same weights: LMX %.3g, transformers %.3g",
					i, len(ids), relErr(got, want), eLMX[i], eRef[i])
			}
			worstRef := max(eRef[0], eRef[1], eRef[2])
			allowed := 0 // prompts past the bound (a model with experts: one, within 0.5)
			if routed {
				allowed = 1
			}
			over, withinAllowance := 0, true
			for i, e := range eLMX {
				if !(e <= 3*worstRef && e <= 0.15) {
					over++
					withinAllowance = withinAllowance && e <= 0.5
					t.Logf("prompt %d: LMX's bfloat16 logits are %.3g off the float32 result (transformers' worst %.3g)", i, e, worstRef)
				}
			}
			if over > allowed || !withinAllowance {
				t.Errorf("LMX's bfloat16 logits are off the float32 result by %.3g (transformers' worst %.3g): want at most 3 times that and at most 0.15 (a model with experts: on all prompts but one, that one within 0.5)", eLMX, worstRef)
			}
			checkGreedyTeacherForced(t, m, exact, ref, routed)
		})
	}
}

// checkGreedyTeacherForced feeds greedy_prompt and then the reference's
// greedy tokens through m's caches and compares m's argmax at each step with
// the reference's token, allowing near-ties (see TestBFloat16Fixtures).
func checkGreedyTeacherForced(t *testing.T, m, exact Model, ref *reference, routed bool) {
	prompt, want := ref.ints["greedy_prompt"], ref.ints["greedy_tokens"]
	if len(prompt) == 0 || len(want) == 0 {
		t.Fatalf("reference has %d prompt and %d greedy tokens", len(prompt), len(want))
	}
	caches, err := newCaches(t, m, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exactCaches, err := newCaches(t, exact, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logits := logitsOf(t, m, prompt, caches)
	xlogits := logitsOf(t, exact, prompt, exactCaches)
	vocab := len(logits) / len(prompt)
	flips, routeFlip := 0, false
	for k, tok := range want {
		best, xbest := argmaxLast(logits, vocab), argmaxLast(xlogits, vocab)
		if best != tok {
			// How far below the float32 run's best are LMX's pick and
			// transformers', as fractions of that row's logit range.
			x := xlogits[len(xlogits)-vocab:]
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, v := range x {
				lo, hi = min(lo, float64(v)), max(hi, float64(v))
			}
			gapLMX := (float64(x[xbest]) - float64(x[best])) / (hi - lo)
			gapRef := (float64(x[xbest]) - float64(x[tok])) / (hi - lo)
			t.Logf("step %d: LMX picks %d, transformers %d, the float32 run %d; below its best by %.3g (LMX) and %.3g (transformers) of the range", k, best, tok, xbest, gapLMX, gapRef)
			switch {
			case best == xbest && gapRef <= 0.03:
				// LMX keeps the float32 run's token; transformers' bfloat16
				// rounding took a near-tie away from it.
			case best == xbest:
				// transformers' token is far below the float32 run's best:
				// either its bfloat16 run went astray or LMX's float32
				// run did, and only the second is ruled out elsewhere.
				t.Errorf("step %d: LMX and its float32 run pick %d; transformers' %d is %.3g of the range below it, not a near-tie", k, best, tok, gapRef)
			case gapLMX <= max(0.03, gapRef):
				flips++
			case routed && gapLMX <= 0.1 && !routeFlip:
				routeFlip = true // one expert choice rounding decides (see TestBFloat16Fixtures)
				flips++
			default:
				t.Errorf("step %d: LMX's pick %d is %.3g of the range below the float32 run's %d, not a near-tie, and further than transformers' %d (%.3g)", k, best, gapLMX, xbest, tok, gapRef)
				flips++
			}
		}
		logits = logitsOf(t, m, []int32{tok}, caches)
		xlogits = logitsOf(t, exact, []int32{tok}, exactCaches)
	}
	if flips > 4 {
		t.Errorf("%d of %d greedy steps differ from the reference (near-ties allowed: 4)", flips, len(want))
	}
}

// routesExperts reports whether dir's model routes tokens to experts (a
// positive expert count in its config or text_config).
func routesExperts(t *testing.T, dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if text, ok := cfg["text_config"].(map[string]any); ok {
		cfg = text
	}
	for _, k := range []string{"num_experts", "num_local_experts", "n_routed_experts"} {
		if n, ok := cfg[k].(float64); ok && n > 0 {
			return true
		}
	}
	return false
}

// upcast writes a copy of the model folder dir with its weights in float32
// (exact: every bfloat16 is a float32), so the same weights can be run
// without bfloat16 rounding.
func upcast(t *testing.T, dir string) string {
	out := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "model.safetensors" || e.IsDir() {
			continue
		}
		testutil.CopyFile(t, filepath.Join(dir, e.Name()), filepath.Join(out, e.Name()))
	}
	mlxtest.Do(t, func() error {
		arrays, meta, err := metal.LoadSafetensors(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			return err
		}
		for k, a := range arrays {
			if a.Dtype() == metal.BFloat16 {
				arrays[k] = metal.Astype(a, metal.Float32)
			}
		}
		return metal.SaveSafetensors(filepath.Join(out, "model.safetensors"), arrays, meta)
	})
	return out
}
