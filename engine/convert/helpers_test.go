package convert

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// python returns the runner of the project's Python scripts, or skips
// (fails under LMX_REQUIRE_PY=1) when the venv with mlx_lm is missing.
func python(t testing.TB) bench.Python {
	t.Helper()
	py := testutil.Python(t)
	if py == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with mlx_lm (run build/setup.sh py or set LMX_PYTHON)")
	}
	return bench.Python{Interpreter: py, Root: testutil.RepoRoot(t)}
}

// fixtureModels lists every model fixture folder: the shared fixtures'
// models/ and the repository's testdata/models/ folders.
func fixtureModels(t *testing.T) []string {
	return testutil.ModelFixtures(t)
}

// fixture returns the folder of one fixture model, shared or the
// repository's own (engine/arch/testdata/models).
func fixture(t *testing.T, name string) string {
	for _, dir := range testutil.ModelFixtures(t) {
		if filepath.Base(dir) == name {
			return dir
		}
	}
	t.Fatalf("no fixture model %q", name)
	return ""
}

// convert runs Convert into a fresh folder under the test's temp dir.
func convert(t *testing.T, src string, opts Options) (string, *Result) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "out")
	res, err := Convert(context.Background(), src, dst, opts)
	if err != nil {
		t.Fatalf("convert %s: %v", filepath.Base(src), err)
	}
	return dst, res
}

// logits loads the model folder in LMX and returns its logits [L, V] for
// each id list (one cacheless pass each), freeing the model afterwards.
func logits(t *testing.T, dir string, ids ...[]int32) [][]float32 {
	t.Helper()
	var out [][]float32
	err := metal.Do(context.Background(), func() error {
		m, _, err := arch.Load(dir)
		if err != nil {
			return err
		}
		defer arch.FreeModel(m)
		for _, list := range ids {
			var l []float32
			metal.Scope(func() {
				x := metal.FromInt32(list, 1, len(list))
				l, err = metal.Astype(m.Logits(m.Hidden(x, nil)), metal.Float32).Float32s()
			})
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("logits of %s: %v", dir, err)
	}
	return out
}

// reference reads a tensor file, failing the test on error.
func reference(t *testing.T, path string) *bench.Tensors {
	t.Helper()
	ref, err := bench.ReadTensors(path)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// ints reads an int32 tensor of ref.
func ints(t *testing.T, ref *bench.Tensors, name string) []int32 {
	t.Helper()
	v, _, err := ref.Int32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// floats reads a float32 tensor of ref.
func floats(t *testing.T, ref *bench.Tensors, name string) []float32 {
	t.Helper()
	v, _, err := ref.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// top1Agreement is the share of rows (positions) of two [L, V] logit
// tables whose argmax is the same token.
func top1Agreement(a, b []float32, vocab int) float64 {
	rows, same := len(b)/vocab, 0
	for r := range rows {
		if argmax(a[r*vocab:(r+1)*vocab]) == argmax(b[r*vocab:(r+1)*vocab]) {
			same++
		}
	}
	return float64(same) / float64(rows)
}

// argmax is the index of the largest value.
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// headers reads the tensor headers of a converted folder by name.
func headers(t *testing.T, dir string) map[string]model.TensorInfo {
	t.Helper()
	hs, err := model.WeightHeaders(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]model.TensorInfo{}
	for _, h := range hs {
		for name, info := range h.Tensors {
			out[name] = info
		}
	}
	return out
}
