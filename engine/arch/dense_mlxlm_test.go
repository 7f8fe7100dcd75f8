package arch_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/engine/convert"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// denseFixtures are one fixture of each of smollm3, olmo3, ministral3 and
// mistral3 (gen_dense.py): NoPE layers, sliding layers with YaRN on the
// full one, the query temperature, the multimodal wrapper.
var denseFixtures = []string{"smollm3_h80", "olmo3_h72", "ministral3_h96", "mistral3_h64"}

// TestDenseBFloat16MatchesMLXLM converts each dense fixture to bfloat16 and
// runs the 23-token prompt through LMX and mlx_lm on that same folder: the
// bfloat16 path (norms, the query temperature cast, NoPE layers, post-norms)
// must agree with mlx_lm's within bfloat16 rounding (one ulp is 0.8%; the
// two run the same MLX kernels and agree exactly today, so the bound of 2%
// leaves room only for a different operation order). A wrong dtype handling or a missing feature
// errs by tens of percent on these fixtures.
func TestDenseBFloat16MatchesMLXLM(t *testing.T) {
	mlxtest.Require(t)
	py := testutil.Python(t)
	if py == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with mlx_lm (run build/setup.sh py or set LMX_PYTHON)")
	}
	runner := bench.Python{Interpreter: py, Root: testutil.RepoRoot(t)}
	dirs := map[string]string{}
	for _, dir := range testutil.ModelFixtures(t) {
		dirs[filepath.Base(dir)] = dir
	}
	for _, name := range denseFixtures {
		t.Run(name, func(t *testing.T) {
			src, ok := dirs[name]
			if !ok {
				t.Fatalf("no fixture %s", name)
			}
			ref, err := bench.ReadTensors(filepath.Join(src, "reference.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			ids, _, err := ref.Int32("input_ids_2")
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(t.TempDir(), "bf16")
			if _, err := convert.Convert(context.Background(), src, dst, convert.Options{Dtype: "bfloat16"}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "mlx_lm.safetensors")
			if err := runner.Logits(context.Background(), dst, out, 0, ids); err != nil {
				t.Fatalf("mlx_lm: %v", err)
			}
			theirs, err := bench.ReadTensors(out)
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := theirs.Float32("logits_0")
			if err != nil {
				t.Fatal(err)
			}
			var got []float32
			mlxtest.Do(t, func() error {
				m, _, err := arch.Load(dst)
				if err != nil {
					return err
				}
				defer arch.FreeModel(m)
				var rerr error
				metal.Scope(func() {
					x := metal.FromInt32(ids, 1, len(ids))
					got, rerr = metal.Astype(m.Logits(m.Hidden(x, nil)), metal.Float32).Float32s()
				})
				return rerr
			})
			e := testutil.RelErr(got, want)
			t.Logf("bfloat16, %d tokens: LMX vs mlx_lm relative error %.3g", len(ids), e)
			if !(e <= 0.02) {
				t.Errorf("LMX vs mlx_lm on the bfloat16 folder: relative error %.3g > 0.02", e)
			}
		})
	}
}
