package arch

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// gptOssFixtures lists the fixture folders of model_type gpt_oss.
func gptOssFixtures(t *testing.T) []string {
	var out []string
	for _, dir := range fixtureModels(t) {
		cfg, err := model.ReadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ModelType == "gpt_oss" {
			out = append(out, dir)
		}
	}
	if len(out) == 0 {
		t.Fatal("no gpt_oss fixture")
	}
	return out
}

// TestGptOssRowsBatch decodes the three reference prompts (1, 5 and 23
// tokens, each prefilled alone) as one batch through cache.Rows, as the
// scheduler's decode batch does, for 8 steps that cross the sliding windows
// of every sequence, and compares each row with the same sequence decoded
// alone. (The left-padded batch of TestFixtureBatch is refused for models
// with sliding layers.)
func TestGptOssRowsBatch(t *testing.T) {
	mlxtest.Require(t)
	for _, dir := range gptOssFixtures(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadModel(t, dir)
			ref := readReference(t, dir)
			prompts := [][]int32{ref.ints["input_ids_0"], ref.ints["input_ids_1"], ref.ints["input_ids_2"]}
			alone, batched := make([][]cache.Cache, len(prompts)), make([][]cache.Cache, len(prompts))
			next := make([]int32, len(prompts))
			for i, p := range prompts {
				var err error
				if alone[i], err = newCaches(t, m, CacheOptions{}); err != nil {
					t.Fatal(err)
				}
				if batched[i], err = newCaches(t, m, CacheOptions{}); err != nil {
					t.Fatal(err)
				}
				logitsOf(t, m, p, batched[i])
				logits := logitsOf(t, m, p, alone[i])
				next[i] = argmaxLast(logits, len(logits)/len(p))
			}
			for step := range 8 {
				var got []float32
				mlxtest.Do(t, func() error {
					layers := make([]cache.Cache, m.NumLayers())
					for l := range layers {
						rows := make([]cache.Cache, len(prompts))
						for i := range prompts {
							rows[i] = batched[i][l]
						}
						layers[l] = cache.NewRows(rows)
					}
					x := metal.FromInt32(next, len(next), 1)
					var err error
					got, err = metal.Astype(m.Logits(m.Hidden(x, layers)), metal.Float32).Float32s()
					return err
				})
				vocab := len(got) / len(prompts)
				for i := range prompts {
					want := logitsOf(t, m, []int32{next[i]}, alone[i])
					if e := relErr(got[i*vocab:(i+1)*vocab], want); !(e <= 1e-5) {
						t.Errorf("step %d, row %d (prompt of %d tokens): relative error %.3g > 1e-5", step, i, len(prompts[i]), e)
					}
					next[i] = argmaxLast(want, vocab)
				}
			}
		})
	}
}

// TestGptOssConfigErrors checks that configs gpt-oss cannot honour fail at
// load with the field named, and MXFP4 blocks of the wrong shape with
// their shapes.
func TestGptOssConfigErrors(t *testing.T) {
	mlxtest.Require(t)
	src := gptOssFixtures(t)[0]
	for _, tc := range []struct {
		name, want string
		edit       func(map[string]any)
	}{
		{"swiglu limit", "swiglu_limit", func(c map[string]any) { c["swiglu_limit"] = 5.0 }},
		{"layer type", "layer_types", func(c map[string]any) { c["layer_types"] = []string{"sliding_attention", "chunked_attention"} }},
		{"layer count", "layer_types", func(c map[string]any) { c["layer_types"] = []string{"full_attention"} }},
		{"no attention bias", "attention_bias", func(c map[string]any) { c["attention_bias"] = false }},
		{"tied head", "tie_word_embeddings", func(c map[string]any) { c["tie_word_embeddings"] = true }},
		{"top-k", "num_experts_per_tok", func(c map[string]any) { c["num_experts_per_tok"] = 99 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data, err := os.ReadFile(filepath.Join(src, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var cfg map[string]any
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatal(err)
			}
			tc.edit(cfg)
			data, _ = json.Marshal(cfg)
			if err := os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(src, "model.safetensors"), filepath.Join(dir, "model.safetensors")); err != nil {
				t.Fatal(err)
			}
			var loadErr error
			mlxtest.Do(t, func() error {
				m, _, err := Load(dir)
				if err == nil {
					FreeModel(m)
				}
				loadErr = err
				return nil
			})
			if loadErr == nil || !strings.Contains(loadErr.Error(), tc.want) {
				t.Errorf("load error %v, want one naming %s", loadErr, tc.want)
			}
		})
	}
	t.Run("mxfp4 blocks of the wrong shape", func(t *testing.T) {
		cfg, err := model.ReadConfig(src)
		if err != nil {
			t.Fatal(err)
		}
		mlxtest.Do(t, func() error {
			w := map[string]*metal.Array{
				"model.layers.0.mlp.experts.gate_up_proj_blocks": metal.Zeros([]int{1, 2, 1, 16}, metal.Uint8),
				"model.layers.0.mlp.experts.gate_up_proj_scales": metal.Zeros([]int{1, 2, 1}, metal.Uint8),
			}
			err := sanitizeGptOss(cfg, w)
			for _, a := range w {
				metal.FreeAll(a)
			}
			if err == nil || !strings.Contains(err.Error(), "MXFP4 blocks") {
				t.Errorf("sanitize error %v, want one about the MXFP4 blocks' shape", err)
			}
			return nil
		})
	})
}

// TestSwigluOAI checks gpt-oss's activation (metal.SwiGLUOAI, compiled and
// not) against its definition in float64 at points on both sides of the
// clamps (|x| and gate beyond the limit), in float32 and in bfloat16 (where
// only the inputs' and the output's rounding may differ).
func TestSwigluOAI(t *testing.T) {
	mlxtest.Require(t)
	const alpha = 1.702 // transformers and mlx-lm hard-code the sigmoid slope
	gate := []float32{-9, -1, 0, 0.5, 6.9, 7, 12, -3.5}
	x := []float32{-12, -7.5, 0.3, 2, 6, 7.2, 30, -0.75}
	want := make([]float32, len(gate))
	for i := range gate {
		g := min(float64(gate[i]), gptOssLimit)
		xl := max(min(float64(x[i]), gptOssLimit), -gptOssLimit)
		want[i] = float32((xl + 1) * g / (1 + math.Exp(-alpha*g)))
	}
	for _, dt := range []struct {
		dtype metal.Dtype
		limit float64
	}{{metal.Float32, 1e-6}, {metal.BFloat16, 1e-2}} {
		for _, compiled := range []bool{true, false} {
			t.Run(fmt.Sprintf("%v/compiled=%v", dt.dtype, compiled), func(t *testing.T) {
				setCompile(t, compiled)
				var got []float32
				mlxtest.Do(t, func() error {
					in := func(v []float32) *metal.Array { return metal.Astype(metal.FromFloat32(v, len(v)), dt.dtype) }
					out := metal.SwiGLUOAI(in(gate), in(x))
					if out.Dtype() != dt.dtype {
						return fmt.Errorf("output dtype %v, want %v", out.Dtype(), dt.dtype)
					}
					var err error
					got, err = metal.Astype(out, metal.Float32).Float32s()
					return err
				})
				if e := relErr(got, want); !(e <= dt.limit) {
					t.Errorf("SwiGLUOAI %v, want %v (relative error %.3g > %g)", got, want, e, dt.limit)
				}
			})
		}
	}
}
