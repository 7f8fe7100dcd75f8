package arch

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
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

// TestSinkAttentionFused runs gpt-oss's attention through MLX's fused SDPA
// with sinks (SinkAttention.attend) and through cache.AttentionSinks, the
// same attention built from MLX ops, on the same inputs, and requires them
// to agree: prefill and decode, grouped and full heads, MLX's causal mode, a
// sliding-window mask, a left-padded batch's array mask, and bfloat16
// activations with float32 sinks (as a bfloat16 checkpoint may store them).
func TestSinkAttentionFused(t *testing.T) {
	mlxtest.Require(t)
	r := rand.New(rand.NewPCG(5, 6))
	randn := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(r.NormFloat64())
		}
		return out
	}
	for _, tc := range []struct {
		name             string
		b, hq, hkv, l, k int
		mode             string
		window           int
		leftPad          []int32
		dtype            metal.Dtype
		limit            float64
	}{
		{"prefill causal gqa", 1, 8, 2, 9, 9, metal.MaskCausal, 0, nil, metal.Float32, 1e-5},
		{"prefill causal after a prefix", 1, 4, 4, 5, 12, metal.MaskCausal, 0, nil, metal.Float32, 1e-5},
		{"decode gqa", 1, 8, 2, 1, 17, "", 0, nil, metal.Float32, 1e-5},
		{"sliding window prefill", 1, 8, 2, 6, 16, metal.MaskArray, 4, nil, metal.Float32, 1e-5},
		{"sliding window decode", 1, 8, 2, 1, 16, metal.MaskArray, 4, nil, metal.Float32, 1e-5},
		{"left-padded batch prefill", 2, 8, 2, 5, 8, metal.MaskArray, 0, []int32{0, 3}, metal.Float32, 1e-5},
		{"left-padded batch decode", 2, 8, 2, 1, 9, metal.MaskArray, 0, []int32{2, 0}, metal.Float32, 1e-5},
		{"bfloat16 decode", 1, 8, 2, 1, 17, "", 0, nil, metal.BFloat16, 1e-2},
		{"bfloat16 prefill causal", 2, 8, 2, 7, 7, metal.MaskCausal, 0, nil, metal.BFloat16, 1e-2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const d = 64
			q, k, v := randn(tc.b*tc.hq*tc.l*d), randn(tc.b*tc.hkv*tc.k*d), randn(tc.b*tc.hkv*tc.k*d)
			sinks := randn(tc.hq)
			var fused, ref []float32
			limit := tc.limit
			mlxtest.Do(t, func() error {
				if tc.dtype == metal.Float32 && metal.DefaultDevice().Type == metal.GPU {
					limit = 3e-3 // the MLX-ops path's matmuls may run in TF32 on a GPU
				}
				in := func(x []float32, heads, n int) *metal.Array {
					return metal.Astype(metal.FromFloat32(x, tc.b, heads, n, d), tc.dtype)
				}
				qa, ka, va := in(q, tc.hq, tc.l), in(k, tc.hkv, tc.k), in(v, tc.hkv, tc.k)
				mask := cache.Mask{Mode: tc.mode}
				if tc.mode == metal.MaskArray {
					mask.Array = cache.CausalMask(tc.l, tc.k-tc.l, tc.window, tc.leftPad)
				}
				a := &SinkAttention{Attention: &Attention{Scale: 1 / math.Sqrt(d)}, Sinks: metal.FromFloat32(sinks, tc.hq)}
				var err error
				if fused, err = metal.Astype(a.attend(nil, qa, ka, va, mask), metal.Float32).Float32s(); err != nil {
					return err
				}
				ref, err = metal.Astype(cache.AttentionSinks(nil, qa, ka, va, a.Scale, mask, a.Sinks), metal.Float32).Float32s()
				return err
			})
			e := relErr(fused, ref)
			t.Logf("relative error %.2g over %d values", e, len(ref))
			if !(e <= limit) {
				t.Errorf("fused SDPA with sinks differs from the MLX-ops path: relative error %.3g > %g", e, limit)
			}
		})
	}
}
