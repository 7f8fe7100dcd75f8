// Port of mlx_lm/models/llama.py.
package arch

import (
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// llamaSpec returns the Llama layout the Llama-like architectures adjust.
func llamaSpec(c *model.Config) (spec, error) {
	if err := requireCommon(c); err != nil {
		return spec{}, err
	}
	if err := checkHeads(c); err != nil {
		return spec{}, err
	}
	s := spec{
		cfg: c, qkvBias: c.AttentionBias, oBias: c.AttentionBias, glu: metal.SwiGLU, tie: c.Tie(defaultTie(c.ModelType)),
		rope: func(bool) model.Rope { return withTheta(c.RopeFor("full_attention"), 10000) },
	}
	s.sliding, s.window = layerTypes(c)
	return s, nil
}

// newLlama builds a Llama model (Llama 2/3/3.1 rope scaling included).
func newLlama(c *model.Config, w *layer.Weights) (Model, error) {
	s, err := llamaSpec(c)
	if err != nil {
		return nil, err
	}
	if s.window == 0 && anyTrue(s.sliding) {
		return nil, c.FieldError("sliding_window", "layer_types has sliding_attention layers but no window")
	}
	s.rope = func(sliding bool) model.Rope {
		if sliding {
			return withTheta(c.RopeFor("sliding_attention"), 10000)
		}
		return withTheta(c.RopeFor("full_attention"), 10000)
	}
	return build(w, s)
}

// sanitizeLlama drops precomputed rotary frequencies and, for tied
// embeddings, the redundant output head.
func sanitizeLlama(c *model.Config, weights map[string]*metal.Array) error {
	dropKeys(weights, "self_attn.rotary_emb.inv_freq")
	if c.Tie(defaultTie(c.ModelType)) {
		dropKeys(weights, "lm_head.")
	}
	return nil
}

// defaultTie is mlx-lm's tie_word_embeddings default per model type.
func defaultTie(modelType string) bool {
	return modelType != "phi3" && modelType != "qwen3_moe"
}

// layerTypes reads layer_types (sliding_attention layers) and the window.
func layerTypes(c *model.Config) ([]bool, int) {
	if len(c.LayerTypes) != c.NumHiddenLayers {
		return nil, 0
	}
	sliding := make([]bool, len(c.LayerTypes))
	for i, t := range c.LayerTypes {
		sliding[i] = t == "sliding_attention" && c.SlidingWindow > 0
	}
	return sliding, c.SlidingWindow
}

// withTheta fills the rope base with the architecture's default when unset.
func withTheta(r model.Rope, def float64) model.Rope {
	if r.Theta == 0 {
		r.Theta = def
	}
	return r
}

// anyTrue reports whether any element is set.
func anyTrue(xs []bool) bool {
	for _, x := range xs {
		if x {
			return true
		}
	}
	return false
}
