package arch

import (
	"github.com/lmx-app/lmx/internal/mlxtest"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// fixtureModels lists every folder of fixtures/models except the named ones.
func fixtureModels(t *testing.T, except ...string) []string {
	root := filepath.Join(testutil.Fixtures(t), "models")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
next:
	for _, e := range entries {
		for _, x := range except {
			if e.Name() == x {
				continue next
			}
		}
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	return dirs
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

// relErr is ‖a−b‖/‖b‖.
func relErr(a []float32, b []float32) float64 {
	var num, den float64
	for i := range b {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	return math.Sqrt(num / den)
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
	for i := range 3 {
		ids := ref.ints[name("input_ids", i)]
		want := ref.floats[name("logits", i)]
		got := logitsOf(t, m, ids, nil)
		if len(got) != len(want) {
			t.Fatalf("prompt %d: %d logits, want %d", i, len(got), len(want))
		}
		e := relErr(got, want)
		t.Logf("prompt %d (%d tokens): relative error %.2g", i, len(ids), e)
		if e > 1e-4 {
			t.Errorf("prompt %d (%d tokens): relative error %.3g > 1e-4", i, len(ids), e)
		}
	}
}

// name is prefix_i.
func name(prefix string, i int) string {
	return prefix + "_" + string(rune('0'+i))
}
