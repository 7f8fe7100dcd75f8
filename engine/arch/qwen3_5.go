// Port of mlx_lm/models/qwen3_5.py and qwen3_5_moe.py: Qwen3.5, the Gated
// DeltaNet hybrid of Qwen3-Next (qwen3_next.go) with separate q|k|v, z, b
// and a projections and, in the vision-language checkpoints (model_type
// qwen3_5 / qwen3_5_moe), the text model's config under text_config and its
// weights under language_model. The MoE variant stores each layer's experts
// fused (experts.gate_up_proj [E, 2I, H], experts.down_proj [E, H, I]).
package arch

import (
	"fmt"
	"strings"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newQwen35, Sanitize: sanitizeQwen35, Quant: quantQwen3Next, SavePrefix: "language_model."}, "qwen3_5", "qwen3_5_moe")
	register(Arch{New: newQwen35Text, Sanitize: sanitizeQwen35Text, Quant: quantQwen3Next}, "qwen3_5_text", "qwen3_5_moe_text")
}

// qwen35Defaults are mlx-lm's TextModelArgs defaults that differ from
// Qwen3-Next's (rope base 100000, a quarter of each head rotated).
var qwen35Defaults = map[string]any{
	"rope_theta": 100000.0, "partial_rotary_factor": 0.25, "full_attention_interval": 4,
}

// qwen35TextConfig is the text model's config: text_config when the
// checkpoint has one (the vision-language layout), else the config itself.
func qwen35TextConfig(c *model.Config) (*model.Config, error) {
	if c.Has("text_config") {
		return c.Nested("text_config", qwen35Defaults, map[string]any{"model_type": "qwen3_5_text"})
	}
	return c.WithDefaults(qwen35Defaults)
}

// newQwen35 builds the language model of a Qwen3.5 checkpoint.
func newQwen35(c *model.Config, w *layer.Weights) (Model, error) {
	text, err := qwen35TextConfig(c)
	if err != nil {
		return nil, err
	}
	return newQwen35Text(text, w)
}

// newQwen35Text builds a Qwen3.5 text model (dense, or MoE when
// num_experts > 0: every layer sparse unless mlp_only_layers says).
func newQwen35Text(c *model.Config, w *layer.Weights) (Model, error) {
	c, err := c.WithDefaults(qwen35Defaults)
	if err != nil {
		return nil, err
	}
	return newHybrid(c, w, layoutQwen35)
}

// sanitizeQwen35 drops the vision tower, moves the language model's
// weights to the top level (model.language_model.* → model.*,
// language_model.* → *) and sanitizes them as a text model.
func sanitizeQwen35(c *model.Config, weights map[string]*metal.Array) error {
	for name, a := range weights {
		delete(weights, name)
		switch {
		case strings.HasPrefix(name, "vision_tower"), strings.HasPrefix(name, "model.visual"):
		case strings.HasPrefix(name, "model.language_model."):
			weights["model."+strings.TrimPrefix(name, "model.language_model.")] = a
		case strings.HasPrefix(name, "language_model."):
			weights[strings.TrimPrefix(name, "language_model.")] = a
		default:
			weights[name] = a
		}
	}
	text, err := qwen35TextConfig(c)
	if err != nil {
		return err
	}
	return sanitizeQwen35Text(text, weights)
}

// sanitizeQwen35Text splits fused experts into switch_mlp gate, up and
// down projections (mlx-lm's qwen3_5_moe sanitize), then applies
// Qwen3-Next's sanitize (conv1d layout, (1 + w) norms of a transformers
// checkpoint, the MTP head and a tied head dropped).
func sanitizeQwen35Text(c *model.Config, weights map[string]*metal.Array) error {
	c, err := c.WithDefaults(qwen35Defaults)
	if err != nil {
		return err
	}
	for l := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.mlp", l)
		gateUp, ok := weights[p+".experts.gate_up_proj"]
		if !ok {
			continue
		}
		down, ok := weights[p+".experts.down_proj"]
		if !ok || gateUp.Ndim() != 3 || gateUp.Dim(1)%2 != 0 {
			return fmt.Errorf("%w: %s.experts: want gate_up_proj [E, 2I, H] and down_proj", layer.ErrMissingTensor, p)
		}
		delete(weights, p+".experts.gate_up_proj")
		delete(weights, p+".experts.down_proj")
		halves := metal.SplitEqual(gateUp, 2, 1)
		weights[p+".switch_mlp.gate_proj.weight"] = halves[0]
		weights[p+".switch_mlp.up_proj.weight"] = halves[1]
		weights[p+".switch_mlp.down_proj.weight"] = down
	}
	return sanitizeQwen3Next(c, weights)
}
