package arch

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// fixtureModels lists every model fixture folder (the shared fixtures'
// models/ first, then the repository's testdata/models/ folders, such as
// engine/arch/testdata/models written by testdata/gen_fixtures.py) except
// the named ones.
func fixtureModels(t *testing.T, except ...string) []string {
	return testutil.ModelFixtures(t, except...)
}

// reference holds a fixture's reference.safetensors read back to Go values.
type reference struct {
	ints   map[string][]int32
	floats map[string][]float32
	shapes map[string][]int
	meta   map[string]string
}

// readReference loads reference.safetensors (on the MLX thread).
func readReference(t *testing.T, dir string) *reference {
	ref := &reference{ints: map[string][]int32{}, floats: map[string][]float32{}, shapes: map[string][]int{}}
	mlxtest.Do(t, func() error {
		arrays, meta, err := metal.LoadSafetensors(filepath.Join(dir, "reference.safetensors"))
		if err != nil {
			return err
		}
		ref.meta = meta
		for name, a := range arrays {
			ref.shapes[name] = a.Shape()
			if a.Dtype() == metal.Int32 || a.Dtype() == metal.Int64 {
				ref.ints[name], err = a.Int32s()
			} else {
				ref.floats[name], err = a.Float32s()
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return ref
}

// loadModel loads a fixture model, freeing it when the test ends.
func loadModel(t *testing.T, dir string) Model {
	var m Model
	mlxtest.Do(t, func() error {
		var err error
		m, _, err = Load(dir)
		return err
	})
	t.Cleanup(func() { mlxtest.Do(t, func() error { FreeModel(m); return nil }) })
	return m
}

// relErr is ‖a−b‖/‖b‖, +Inf for anything that is not a real comparison
// (NaN or Inf on either side, lengths that differ, a missing reference), so
// that every "relErr(...) > limit" fails on it.
func relErr(a []float32, b []float32) float64 {
	return testutil.RelErr(a, b)
}

// logitsOf runs ids through m in one pass (no cache) and reads [L, V] back.
func logitsOf(t *testing.T, m Model, ids []int32, caches []cache.Cache) []float32 {
	var out []float32
	mlxtest.Do(t, func() error {
		x := metal.FromInt32(ids, 1, len(ids))
		logits := metal.Astype(m.Logits(m.Hidden(x, caches)), metal.Float32)
		var err error
		out, err = logits.Float32s()
		return err
	})
	return out
}

// TestFixtureLogits checks every fixture's logits with MLX's compilation on
// (fused activations) and off: both must match the reference.
func TestFixtureLogits(t *testing.T) {
	mlxtest.Require(t)
	for _, dir := range fixtureModels(t, "stories260k") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadModel(t, dir)
			ref := readReference(t, dir)
			for _, compiled := range []bool{true, false} {
				t.Run(map[bool]string{true: "compiled", false: "uncompiled"}[compiled], func(t *testing.T) {
					setCompile(t, compiled)
					checkLogits(t, m, ref)
				})
			}
		})
	}
}

// setCompile switches MLX's compilation for one test.
func setCompile(t *testing.T, enabled bool) {
	mlxtest.Do(t, func() error { return metal.SetCompile(enabled) })
	restore := os.Getenv(metal.CompileEnv) != "0"
	t.Cleanup(func() { mlxtest.Do(t, func() error { return metal.SetCompile(restore) }) })
}

// checkLogits compares m's logits for the three reference prompts.
func checkLogits(t *testing.T, m Model, ref *reference) {
	for _, msg := range logitsMismatches(t, m, ref) {
		t.Error(msg)
	}
}

// logitsMismatches runs the three reference prompts through m and returns
// one message per prompt whose logits are not within 1e-4 relative error
// of the reference (none when all agree).
func logitsMismatches(t *testing.T, m Model, ref *reference) []string {
	var bad []string
	for i := range 3 {
		ids := ref.ints[name("input_ids", i)]
		want := ref.floats[name("logits", i)]
		got := logitsOf(t, m, ids, nil)
		e := relErr(got, want)
		t.Logf("prompt %d (%d tokens): relative error %.2g", i, len(ids), e)
		if !(e <= 1e-4) {
			bad = append(bad, fmt.Sprintf("prompt %d (%d tokens, %d logits, want %d): relative error %.3g > 1e-4", i, len(ids), len(got), len(want), e))
		}
	}
	return bad
}

// name is prefix_i.
func name(prefix string, i int) string {
	return prefix + "_" + string(rune('0'+i))
}

// TestFixtureGreedy decodes greedy_prompt token by token through the
// model's own caches and checks the 20 tokens against the reference's
// greedy_tokens (transformers' greedy decoding through its KV cache).
func TestFixtureGreedy(t *testing.T) {
	mlxtest.Require(t)
	for _, dir := range fixtureModels(t, "stories260k") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadModel(t, dir)
			ref := readReference(t, dir)
			prompt, want := ref.ints["greedy_prompt"], ref.ints["greedy_tokens"]
			if len(prompt) == 0 || len(want) == 0 {
				t.Fatalf("reference has %d prompt and %d greedy tokens", len(prompt), len(want))
			}
			caches, err := newCaches(t, m, CacheOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := make([]int32, 0, len(want))
			logits := logitsOf(t, m, prompt, caches)
			vocab := len(logits) / len(prompt)
			for range want {
				next := argmaxLast(logits, vocab)
				got = append(got, next)
				logits = logitsOf(t, m, []int32{next}, caches)
			}
			if !slices.Equal(got, want) {
				t.Errorf("greedy tokens\n%v\nwant\n%v", got, want)
			}
		})
	}
}

// argmaxLast is the argmax of the last row of [L, vocab] logits.
func argmaxLast(logits []float32, vocab int) int32 {
	row := logits[len(logits)-vocab:]
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return int32(best)
}

// TestNaNForwardFails puts one NaN into a fixture's q_proj weight: the
// logits then hold NaNs, and the fixture comparison must report every
// prompt as failing (a NaN relative error compared with "> limit" would
// have passed).
func TestNaNForwardFails(t *testing.T) {
	mlxtest.Require(t)
	dir := filepath.Join(fixtureModels(t)[0], "..", "llama")
	ref := readReference(t, dir)
	var m Model
	mlxtest.Do(t, func() error {
		cfg, err := model.ReadConfig(dir)
		if err != nil {
			return err
		}
		metal.Scope(func() {
			var weights map[string]*metal.Array
			if weights, _, err = metal.LoadSafetensors(filepath.Join(dir, "model.safetensors")); err != nil {
				return
			}
			const name = "model.layers.0.self_attn.q_proj.weight"
			w, ok := weights[name]
			if !ok {
				err = fmt.Errorf("no %s", name)
				return
			}
			var vals []float32
			if vals, err = metal.Astype(w, metal.Float32).Float32s(); err != nil {
				return
			}
			vals[len(vals)/2] = float32(math.NaN())
			weights[name] = metal.Astype(metal.FromFloat32(vals, w.Shape()...), w.Dtype())
			m, err = buildEval(cfg, weights)
		})
		return err
	})
	t.Cleanup(func() { mlxtest.Do(t, func() error { FreeModel(m); return nil }) })
	got := logitsOf(t, m, ref.ints["input_ids_2"], nil)
	if !slices.ContainsFunc(got, func(v float32) bool { return math.IsNaN(float64(v)) }) {
		t.Fatal("a NaN weight gave no NaN logits: the test does not test the comparison")
	}
	if e := relErr(got, ref.floats["logits_2"]); !math.IsInf(e, 1) {
		t.Errorf("relErr of NaN logits is %g, want +Inf", e)
	}
	if bad := logitsMismatches(t, m, ref); len(bad) != 3 {
		t.Errorf("the comparison reported %d failing prompts of 3 for a NaN forward pass: %q", len(bad), bad)
	}
}
