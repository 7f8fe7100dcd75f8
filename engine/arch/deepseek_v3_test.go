package arch

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// moeFixture is one of this repository's glm4_moe / deepseek_v3 fixtures.
func moeFixture(t *testing.T, name string) string {
	for _, dir := range fixtureModels(t) {
		if filepath.Base(dir) == name {
			return dir
		}
	}
	t.Fatalf("fixture %s not found", name)
	return ""
}

// A DeepSeek checkpoint quantized in its Hugging Face layout (kv_b_proj
// quantized whole, as older MLX conversions store it) is split into
// embed_q / unembed_out by dequantizing and quantizing again (mlx-lm's
// sanitize); it must give the logits of the same weights dequantized, up to
// that second rounding. The
// routers stay in float, as mlx-lm keeps them.
func TestDeepseekV3QuantizedKVBProj(t *testing.T) {
	mlxtest.Require(t)
	src := moeFixture(t, "deepseek_v3_h64")
	overrides := map[string]any{"model.layers.1.mlp.gate": false, "model.layers.2.mlp.gate": false}
	qdir, fdir := quantizeFixture(t, src, overrides)
	ref := readReference(t, src)
	qm, fm := loadModel(t, qdir), loadModel(t, fdir)
	if a := qm.(*MLADecoder).Layers[1].SelfAttn; a.UnembedOut.Weight.Dtype() != metal.Uint32 || a.EmbedQ.Weight.Dtype() == metal.Uint32 {
		t.Errorf("unembed_out %v, embed_q %v: want unembed_out quantized (rank 32 over group 32) and embed_q float (16 features)",
			a.UnembedOut.Weight.Dtype(), a.EmbedQ.Weight.Dtype())
	}
	ids := ref.ints["input_ids_2"]
	got, want := logitsOf(t, qm, ids, nil), logitsOf(t, fm, ids, nil)
	// MLX's affine quantization is not idempotent: quantizing the
	// dequantized unembed_out again moves its weights by ~0.2% at 8 bits
	// (mlx-lm's sanitize pays the same), hence 1e-2 rather than 1e-4; a
	// wrong head layout or transposition errs by order 1.
	if e := relErr(got, want); e > 1e-2 {
		t.Errorf("quantized vs dequantized weights: relative error %.3g > 1e-2", e)
	} else {
		t.Logf("quantized vs dequantized weights: relative error %.3g", e)
	}
	if e := relErr(got, ref.floats["logits_2"]); e > 0.3 {
		t.Errorf("quantized vs float reference: relative error %.3g > 0.3", e)
	}
}

// Router settings this port does not implement, and inconsistent group
// counts, are load errors naming the field, not wrong output.
func TestGroupedMoeConfigErrors(t *testing.T) {
	mlxtest.Require(t)
	tests := []struct {
		fixture, from, to, field string
	}{
		{"glm4_moe_h72", `"n_group": 4`, `"n_group": 3`, "n_group"},
		{"glm4_moe_h72", `"topk_group": 2`, `"topk_group": 5`, "topk_group"},
		{"glm4_moe_h72", `"n_group": 4`, `"n_group": 4, "topk_method": "greedy"`, "topk_method"},
		{"glm4_moe_h60", `"n_group": 1`, `"n_group": 1, "scoring_func": "softmax"`, "scoring_func"},
		{"glm4_moe_h60", `"num_experts_per_tok": 2`, `"num_experts_per_tok": 7`, "num_experts_per_tok"},
		{"deepseek_v3_h64", `"n_group": 4`, `"n_group": 8`, "n_group"}, // groups of one expert
		{"deepseek_v3_h64", `"qk_rope_head_dim": 8`, `"qk_rope_head_dim": 7`, "qk_rope_head_dim"},
		{"deepseek_v3_h48", `"kv_lora_rank": 20`, `"kv_lora_rank": 0`, "kv_lora_rank"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+tt.to, func(t *testing.T) {
			dir := copyModel(t, moeFixture(t, tt.fixture), func(s string) string {
				if !strings.Contains(s, tt.from) {
					t.Fatalf("config has no %s", tt.from)
				}
				return strings.Replace(s, tt.from, tt.to, 1)
			}, 0)
			var err error
			mlxtest.Do(t, func() error {
				var m Model
				m, _, err = Load(dir)
				if err == nil {
					FreeModel(m)
				}
				return nil
			})
			if !errors.Is(err, model.ErrInvalidConfig) || !strings.Contains(err.Error(), `"`+tt.field+`"`) {
				t.Errorf("err %v, want an invalid-config error naming %q", err, tt.field)
			}
		})
	}
}

// The router keeps only experts of the best topk_group groups even when
// their corrected scores are negative (transformers and DeepSeek's own code
// mask the other groups with -inf; writing 0 there, as mlx-lm does, would
// pick the dropped group's experts here).
func TestGroupRouterMasksDroppedGroups(t *testing.T) {
	mlxtest.Require(t)
	mlxtest.Do(t, func() error {
		// logits 0 → scores 0.5; corrected: [0.5, -0.9 | -0.1, -0.2], so
		// group 1 wins (-0.3 > -0.4) with both its experts below zero.
		r := &GroupRouter{
			Weight: metal.Zeros([]int{4, 3}, metal.Float32),
			Bias:   metal.FromFloat32([]float32{0, -1.4, -0.6, -0.7}, 4),
			TopK:   2, NGroup: 2, TopkGrp: 1, NormTopkProb: true, Scale: 2.5,
		}
		inds, weights := r.Route(metal.Ones([]int{1, 1, 3}, metal.Float32))
		got, err := inds.Int32s()
		if err != nil {
			return err
		}
		w, err := weights.Float32s()
		if err != nil {
			return err
		}
		slices.Sort(got)
		if !slices.Equal(got, []int32{2, 3}) {
			t.Errorf("experts %v, want [2 3] (the kept group)", got)
		}
		if len(w) != 2 || w[0] != 1.25 || w[1] != 1.25 {
			t.Errorf("weights %v, want [1.25 1.25] (0.5 each, normalized, times 2.5)", w)
		}
		return nil
	})
}

// The MLA cache holds the latent, not per-head keys and values: one shared
// key of kv_lora_rank+qk_rope_head_dim and one value of kv_lora_rank per
// position, whatever the number of heads.
func TestDeepseekV3CachesLatent(t *testing.T) {
	mlxtest.Require(t)
	m := loadModel(t, moeFixture(t, "deepseek_v3_h64")) // 4 heads, rank 32, rope 8
	caches, err := newCaches(t, m, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logitsOf(t, m, []int32{5, 6, 7, 8, 9}, caches)
	mlxtest.Do(t, func() error {
		st := caches[1].State()
		defer metal.FreeAll(st.Arrays...)
		if len(st.Arrays) != 2 || !slices.Equal(st.Arrays[0].Shape(), []int{1, 1, 5, 40}) || !slices.Equal(st.Arrays[1].Shape(), []int{1, 1, 5, 32}) {
			t.Errorf("cache state %v, want keys [1 1 5 40] and values [1 1 5 32]", mlaShapes(st.Arrays))
		}
		return nil
	})
	// a quantized KV cache needs its group to divide both widths
	if _, err := newCaches(t, m, CacheOptions{KVBits: 8, KVGroupSize: 32}); !errors.Is(err, ErrCacheOptions) {
		t.Errorf("KV group 32 over key width 40: err %v, want ErrCacheOptions", err)
	}
}

// mlaShapes lists the arrays' shapes.
func mlaShapes(arrays []*metal.Array) [][]int {
	out := make([][]int, len(arrays))
	for i, a := range arrays {
		out[i] = a.Shape()
	}
	return out
}
