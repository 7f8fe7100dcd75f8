package arch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/engine/convert"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// mlxPatches are the config.json edits mlx-lm needs to run a converted
// fixture of these model types (the weights are untouched): LFM2's
// block_dim, which transformers 5 no longer writes, and Qwen3.5's text-only
// model types, which mlx-lm knows only as qwen3_5 and qwen3_5_moe (a
// text_config-less config is the text model's).
var mlxPatches = map[string]func(cfg map[string]any){
	"lfm2": func(cfg map[string]any) {
		if _, ok := cfg["block_dim"]; !ok {
			cfg["block_dim"] = cfg["hidden_size"]
		}
	},
	"qwen3_5_text":     testutil.AsMLXLMType,
	"qwen3_5_moe_text": testutil.AsMLXLMType,
}

// patchedFixtures lists the fixture folders of the model types in
// mlxPatches, with their type.
func patchedFixtures(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, dir := range testutil.ModelFixtures(t) {
		var cfg struct {
			ModelType string `json:"model_type"`
		}
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatal(err)
		}
		if mlxPatches[cfg.ModelType] != nil {
			out[dir] = cfg.ModelType
		}
	}
	if len(out) == 0 {
		t.Skip("no lfm2, qwen3_5_text or qwen3_5_moe_text fixture")
	}
	return out
}

// readTensors loads a safetensors file's float tensors.
func readTensors(t *testing.T, path string) (map[string][]float32, map[string][]int32) {
	floats, ints := map[string][]float32{}, map[string][]int32{}
	mlxtest.Do(t, func() error {
		arrays, _, err := metal.LoadSafetensors(path)
		if err != nil {
			return err
		}
		for k, a := range arrays {
			if a.Dtype() == metal.Int32 {
				ints[k], err = a.Int32s()
			} else {
				floats[k], err = metal.Astype(a, metal.Float32).Float32s()
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return floats, ints
}

// lmxLogits loads dir and returns its logits for each id list (no cache).
func lmxLogits(t *testing.T, dir string, ids [][]int32) [][]float32 {
	var out [][]float32
	mlxtest.Do(t, func() error {
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
	return out
}

// TestHybridQuantizedMatchesMLX converts each LFM2 and Qwen3.5 fixture
// (which the generic converter test cannot compare with mlx-lm: mlx-lm does
// not read their transformers 5 configs as written) to 8 and 4 bits
// (group 32, so that the fixtures' widths have quantizable layers) and
// compares LMX's logits with mlx_lm's on the same folder (1e-3), after
// checking that mlx_lm agrees with transformers on the float model (so
// mlx_lm is a meaningful reference here).
func TestHybridQuantizedMatchesMLX(t *testing.T) {
	mlxtest.Require(t)
	pyExe := testutil.Python(t)
	if pyExe == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with mlx_lm (set LMX_PYTHON)")
	}
	py := bench.Python{Interpreter: pyExe, Root: testutil.RepoRoot(t)}
	for src, typ := range patchedFixtures(t) {
		patch := mlxPatches[typ]
		t.Run(filepath.Base(src), func(t *testing.T) {
			refF, refI := readTensors(t, filepath.Join(src, "reference.safetensors"))
			ids := [][]int32{refI["input_ids_0"], refI["input_ids_1"], refI["input_ids_2"]}

			float := filepath.Join(t.TempDir(), "float")
			if _, err := convert.Convert(context.Background(), src, float, convert.Options{}); err != nil {
				t.Fatal(err)
			}
			testutil.PatchConfig(t, float, patch)
			out := filepath.Join(t.TempDir(), "mlx_float.safetensors")
			if err := py.Logits(context.Background(), float, out, 0, ids...); err != nil {
				t.Fatalf("mlx_lm on the float model: %v", err)
			}
			mlxF, _ := readTensors(t, out)
			for i := range ids {
				key := fmt.Sprintf("logits_%d", i)
				if e := testutil.RelErr(mlxF[key], refF[key]); !(e <= 1e-4) {
					t.Fatalf("mlx_lm vs transformers on the float model, prompt %d: relative error %.3g", i, e)
				}
			}

			for _, bits := range []int{8, 4} {
				t.Run(fmt.Sprintf("%dbit-g32", bits), func(t *testing.T) {
					dst := filepath.Join(t.TempDir(), "q")
					res, err := convert.Convert(context.Background(), src, dst, convert.Options{Quantize: true, Bits: bits, GroupSize: 32})
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Quantized) == 0 {
						t.Fatalf("nothing quantized (skipped %v)", res.Skipped)
					}
					t.Logf("quantized %d modules, %d left in float", len(res.Quantized), len(res.Skipped))
					testutil.PatchConfig(t, dst, patch)
					out := filepath.Join(t.TempDir(), "mlx_q.safetensors")
					if err := py.Logits(context.Background(), dst, out, 0, ids...); err != nil {
						t.Fatalf("mlx_lm on the quantized folder: %v", err)
					}
					mlxQ, _ := readTensors(t, out)
					got := lmxLogits(t, dst, ids)
					for i := range ids {
						key := fmt.Sprintf("logits_%d", i)
						vsMLX, vsRef := testutil.RelErr(got[i], mlxQ[key]), testutil.RelErr(got[i], refF[key])
						t.Logf("prompt %d (%d tokens): vs mlx_lm %.2g, vs float reference %.3g", i, len(ids[i]), vsMLX, vsRef)
						if !(vsMLX <= 1e-3) {
							t.Errorf("prompt %d: LMX vs mlx_lm on the same quantized folder: relative error %.3g > 1e-3", i, vsMLX)
						}
						if !(vsRef > 0) {
							t.Errorf("prompt %d: quantized logits equal the float reference exactly: nothing was quantized", i)
						}
					}
				})
			}
		})
	}
}

// TestHybridBfloat16MatchesMLX converts the LFM2 and Qwen3.5 fixtures to
// bfloat16 and compares LMX's logits with mlx_lm's on the same folder
// (1e-3): the convolutions and the gated delta rule accumulate in float32
// as MLX does, so half-precision checkpoints (what mlx-community ships)
// run as mlx_lm runs them. (Qwen3-Next's fixtures have experts, which
// mlx_lm's CPU backend gathers in float32 only.) The bfloat16 model is not
// the float32 reference's, so that comparison is only logged.
func TestHybridBfloat16MatchesMLX(t *testing.T) {
	mlxtest.Require(t)
	pyExe := testutil.Python(t)
	if pyExe == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with mlx_lm (set LMX_PYTHON)")
	}
	py := bench.Python{Interpreter: pyExe, Root: testutil.RepoRoot(t)}
	for src, typ := range patchedFixtures(t) {
		t.Run(filepath.Base(src), func(t *testing.T) {
			refF, refI := readTensors(t, filepath.Join(src, "reference.safetensors"))
			ids := [][]int32{refI["input_ids_0"], refI["input_ids_1"], refI["input_ids_2"]}
			dst := filepath.Join(t.TempDir(), "bf16")
			if _, err := convert.Convert(context.Background(), src, dst, convert.Options{Dtype: "bfloat16"}); err != nil {
				t.Fatal(err)
			}
			testutil.PatchConfig(t, dst, mlxPatches[typ])
			out := filepath.Join(t.TempDir(), "mlx.safetensors")
			if err := py.Logits(context.Background(), dst, out, 0, ids...); err != nil {
				t.Fatalf("mlx_lm on the bfloat16 folder: %v", err)
			}
			mlx, _ := readTensors(t, out)
			got := lmxLogits(t, dst, ids)
			for i := range ids {
				key := fmt.Sprintf("logits_%d", i)
				vsMLX := testutil.RelErr(got[i], mlx[key])
				t.Logf("prompt %d (%d tokens): vs mlx_lm %.2g, vs the float32 reference %.3g", i, len(ids[i]), vsMLX, testutil.RelErr(got[i], refF[key]))
				if !(vsMLX <= 1e-3) {
					t.Errorf("prompt %d: LMX vs mlx_lm on the same bfloat16 folder: relative error %.3g > 1e-3", i, vsMLX)
				}
			}
		})
	}
}
