package arch

import (
	"fmt"
	"math"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// TestGemma3EmbedScale builds a gemma3_text model of hidden size 48 in each
// float dtype and checks the embeddings its decoder feeds the first layer:
// the embedding rows times √48 as transformers' Gemma3TextScaledWordEmbedding
// computes it, a float32 cast to the weights' dtype. For float32 weights
// that is 6.928203, not the bfloat16 6.9375 mlx-lm uses (0.13% apart; the
// fixtures' hidden size 64 has an exact root and cannot tell them apart).
func TestGemma3EmbedScale(t *testing.T) {
	mlxtest.Require(t)
	const hidden, vocab = 48, 16
	cfg := tinyGemma3Config(t, hidden, vocab)
	for _, tt := range []struct {
		dt    metal.Dtype
		scale float64 // float32(√48) in dt
	}{
		{metal.Float32, 6.928203105926514},
		{metal.BFloat16, 6.9375},
		{metal.Float16, 6.9296875},
	} {
		t.Run(tt.dt.String(), func(t *testing.T) {
			var got, want []float32
			mlxtest.Do(t, func() error {
				m, err := Build(cfg, tinyGemma3Weights(cfg, tt.dt))
				if err != nil {
					return err
				}
				defer FreeModel(m)
				var rerr error
				metal.Scope(func() {
					ids := metal.FromInt32([]int32{3, 0, 15, 7}, 1, 4)
					rows := m.(*Decoder).EmbedTokens.Forward(ids)
					if got, rerr = metal.Astype(m.(*Decoder).embed(ids), metal.Float32).Float32s(); rerr != nil {
						return
					}
					want, rerr = metal.Astype(metal.Mul(rows, metal.Scalar(tt.scale, tt.dt)), metal.Float32).Float32s()
				})
				return rerr
			})
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("embedding value %d is %g, want %g (the row times %g)", i, got[i], want[i], tt.scale)
				}
			}
		})
	}
}

// tinyGemma3Config is a one-layer gemma3_text config of the given sizes.
func tinyGemma3Config(t *testing.T, hidden, vocab int) *model.Config {
	t.Helper()
	cfg, err := model.ParseConfig("config.json", fmt.Appendf(nil, `{"model_type": "gemma3_text",
		"hidden_size": %d, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
		"num_key_value_heads": 1, "head_dim": 16, "query_pre_attn_scalar": 16, "vocab_size": %d,
		"sliding_window": 8, "max_position_embeddings": 64, "rms_norm_eps": 1e-6}`, hidden, vocab))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tinyGemma3Weights are the weights of cfg in dtype dt: a random
// embedding, zeros elsewhere. Runs inside Do.
func tinyGemma3Weights(cfg *model.Config, dt metal.Dtype) map[string]*metal.Array {
	h, hd, ff := cfg.HiddenSize, cfg.HeadDim, cfg.IntermediateSize
	shapes := map[string][]int{
		"model.norm.weight":                                {h},
		"model.layers.0.self_attn.q_proj.weight":           {cfg.NumAttentionHeads * hd, h},
		"model.layers.0.self_attn.k_proj.weight":           {cfg.NumKeyValueHeads * hd, h},
		"model.layers.0.self_attn.v_proj.weight":           {cfg.NumKeyValueHeads * hd, h},
		"model.layers.0.self_attn.o_proj.weight":           {h, cfg.NumAttentionHeads * hd},
		"model.layers.0.self_attn.q_norm.weight":           {hd},
		"model.layers.0.self_attn.k_norm.weight":           {hd},
		"model.layers.0.mlp.gate_proj.weight":              {ff, h},
		"model.layers.0.mlp.up_proj.weight":                {ff, h},
		"model.layers.0.mlp.down_proj.weight":              {h, ff},
		"model.layers.0.input_layernorm.weight":            {h},
		"model.layers.0.post_attention_layernorm.weight":   {h},
		"model.layers.0.pre_feedforward_layernorm.weight":  {h},
		"model.layers.0.post_feedforward_layernorm.weight": {h},
	}
	w := map[string]*metal.Array{}
	for name, shape := range shapes {
		w[name] = metal.Zeros(shape, dt)
	}
	// Values of several magnitudes, so that a product rounds.
	e := metal.RandomUniform([]int{cfg.VocabSize, h}, metal.Float32, metal.RandomKey(1))
	w["model.embed_tokens.weight"] = metal.Astype(metal.Mul(e, metal.Scalar(math.Pi, metal.Float32)), dt)
	return w
}
