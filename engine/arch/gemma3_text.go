// Port of mlx_lm/models/gemma3_text.py.
package arch

import (
	"math"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// gemma3Defaults are mlx-lm's gemma3_text ModelArgs defaults.
var gemma3Defaults = map[string]any{
	"hidden_size": 1152, "num_hidden_layers": 26, "intermediate_size": 6912,
	"num_attention_heads": 4, "head_dim": 256, "rms_norm_eps": 1e-6,
	"vocab_size": 262144, "num_key_value_heads": 1, "query_pre_attn_scalar": 256,
	"sliding_window": 512,
}

// gemma3Args are the Gemma 3 fields beyond the shared config.
type gemma3Args struct {
	QueryPreAttnScalar   float64 `json:"query_pre_attn_scalar"`
	SlidingWindowPattern int     `json:"sliding_window_pattern"`
	// LegacyPattern is what transformers 5 writes instead.
	LegacyPattern int `json:"_sliding_window_pattern"`
}

// newGemma3Text builds a Gemma 3 text model: (1 + w) RMSNorms around both
// sub-layers, q/k norms, gelu-tanh MLP, embeddings scaled by √hidden, and
// sliding-window layers with their own rope base.
func newGemma3Text(raw *model.Config, w *layer.Weights) (Model, error) {
	c, err := raw.WithDefaults(gemma3Defaults)
	if err != nil {
		return nil, err
	}
	if err := requireCommon(c); err != nil {
		return nil, err
	}
	if err := checkHeads(c); err != nil {
		return nil, err
	}
	args := gemma3Args{SlidingWindowPattern: 6}
	if err := c.Decode(&args); err != nil {
		return nil, err
	}
	s := spec{
		cfg: c, qkNorm: true, offsetNorm: true, layout: sandwich, glu: metal.GeGLU,
		scale:      1 / math.Sqrt(args.QueryPreAttnScalar),
		embedScale: gemma3EmbedScale(c.HiddenSize),
		tie:        !w.Has("lm_head.weight"),
		window:     c.SlidingWindow,
		sliding:    gemma3Sliding(c, args),
		rope:       gemma3Rope(c),
	}
	if args.QueryPreAttnScalar <= 0 {
		return nil, c.FieldError("query_pre_attn_scalar", "must be positive")
	}
	if s.window <= 0 && anyTrue(s.sliding) {
		return nil, c.FieldError("sliding_window", "must be positive")
	}
	return build(w, s)
}

// gemma3Sliding marks the sliding-window layers: layer_types when present,
// else every layer but each pattern-th one.
func gemma3Sliding(c *model.Config, args gemma3Args) []bool {
	if sliding, _ := layerTypes(c); sliding != nil {
		return sliding
	}
	pattern := args.SlidingWindowPattern
	if !c.Has("sliding_window_pattern") && args.LegacyPattern > 0 {
		pattern = args.LegacyPattern
	}
	sliding := make([]bool, c.NumHiddenLayers)
	for i := range sliding {
		sliding[i] = pattern <= 0 || (i+1)%pattern != 0
	}
	return sliding
}

// gemma3Rope picks the local (sliding) or global rope; the defaults are
// mlx-lm's rope_local_base_freq 1e4 and rope_global_base_freq 1e6.
func gemma3Rope(c *model.Config) func(bool) model.Rope {
	return func(sliding bool) model.Rope {
		if !sliding {
			return withTheta(c.RopeFor("full_attention"), 1e6)
		}
		if _, ok := c.Rope["sliding_attention"]; !ok {
			return model.Rope{Type: "default", Theta: 1e4, PartialRotaryFactor: 1}
		}
		return withTheta(c.RopeFor("sliding_attention"), 1e4)
	}
}

// sanitizeGemma3Text drops precomputed rotary frequencies; a missing
// lm_head means the head is tied to the embedding.
func sanitizeGemma3Text(_ *model.Config, weights map[string]*metal.Array) error {
	dropKeys(weights, "self_attn.rotary_emb.inv_freq")
	return nil
}

// gemma3EmbedScale is √hidden_size as transformers' Gemma3 embedding takes
// it: a float32 (torch.tensor of a Python float), which the Decoder casts to
// the embeddings' dtype. llama.cpp scales by sqrtf(n_embd) alike; mlx-lm
// rounds to bfloat16 first, the same value for bfloat16 weights but 0.2%
// off for float32 ones whose hidden size is no power of four (25.25 for
// √640 = 25.298).
func gemma3EmbedScale(hidden int) float64 {
	return float64(float32(math.Sqrt(float64(hidden))))
}
