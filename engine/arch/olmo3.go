// Port of mlx_lm/models/olmo3.py.
package arch

import (
	"fmt"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newOlmo3, Sanitize: sanitizeOlmo3}, "olmo3")
}

// olmo3Theta is transformers' Olmo3Config default rope base.
const olmo3Theta = 500000

// newOlmo3 builds an OLMo 3 model: RMSNorm over the whole q and k
// projections, norms after attention and after the MLP (none before), and
// sliding-window layers (layer_types, by default three of every four) whose
// rope is plain while the full-attention layers take the rope scaling.
func newOlmo3(c *model.Config, w *layer.Weights) (Model, error) {
	if err := requireCommon(c); err != nil {
		return nil, err
	}
	if err := checkHeads(c); err != nil {
		return nil, err
	}
	sliding, err := olmo3Sliding(c)
	if err != nil {
		return nil, err
	}
	s := spec{
		cfg: c, qkvBias: c.AttentionBias, oBias: c.AttentionBias, qkProjNorm: true, layout: postNorm,
		glu: metal.SwiGLU, tie: c.Tie(false), sliding: sliding, window: c.SlidingWindow,
		rope: olmo3Rope(c),
	}
	return build(w, s)
}

// olmo3Sliding marks the sliding-window layers: layer_types, or every
// layer but each fourth.
func olmo3Sliding(c *model.Config) ([]bool, error) {
	sliding := make([]bool, c.NumHiddenLayers)
	if c.LayerTypes == nil {
		for i := range sliding {
			sliding[i] = (i+1)%4 != 0
		}
	} else {
		if len(c.LayerTypes) != c.NumHiddenLayers {
			return nil, c.FieldError("layer_types", fmt.Sprintf("has %d entries for %d layers", len(c.LayerTypes), c.NumHiddenLayers))
		}
		for i, t := range c.LayerTypes {
			switch t {
			case "sliding_attention":
				sliding[i] = true
			case "full_attention":
			default:
				return nil, c.FieldError("layer_types", fmt.Sprintf("unsupported layer type %q", t))
			}
		}
	}
	if anyTrue(sliding) && c.SlidingWindow <= 0 {
		return nil, c.FieldError("sliding_window", "sliding_attention layers need a positive window")
	}
	return sliding, nil
}

// olmo3Rope returns the rope of a sliding or full layer. transformers 5
// configs give one per layer type; a transformers 4 config (rope_theta and
// rope_scaling) scales the full layers only, the sliding ones keeping plain
// rope of the same base, as in transformers and mlx-lm.
func olmo3Rope(c *model.Config) func(bool) model.Rope {
	return func(sliding bool) model.Rope {
		if !sliding {
			return withTheta(c.RopeFor("full_attention"), olmo3Theta)
		}
		if r, ok := c.Rope["sliding_attention"]; ok {
			return withTheta(r, olmo3Theta)
		}
		full := c.RopeFor("full_attention")
		return withTheta(model.Rope{Type: "default", Theta: full.Theta, PartialRotaryFactor: full.PartialRotaryFactor}, olmo3Theta)
	}
}

// sanitizeOlmo3 drops precomputed rotary frequencies and, for tied
// embeddings, the redundant output head.
func sanitizeOlmo3(c *model.Config, weights map[string]*metal.Array) error {
	dropKeys(weights, "self_attn.rotary_emb.inv_freq")
	if c.Tie(false) {
		dropKeys(weights, "lm_head.")
	}
	return nil
}
