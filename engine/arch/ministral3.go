// Port of mlx_lm/models/ministral3.py.
package arch

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newMinistral3, Sanitize: sanitizeMinistral3}, "ministral3")
}

// ministral3Theta is transformers' Ministral3Config default rope base.
const ministral3Theta = 1e6

// newMinistral3 builds a Ministral 3 model: Llama with explicit head_dim, no
// biases, YaRN rope, and queries multiplied after rope by the llama-4
// attention temperature 1 + β·log(1 + ⌊position / original_max_position_embeddings⌋).
func newMinistral3(c *model.Config, w *layer.Weights) (Model, error) {
	s, err := llamaSpec(c)
	if err != nil {
		return nil, err
	}
	temp, err := ministral3Temperature(c)
	if err != nil {
		return nil, err
	}
	if s.sliding, s.window, err = ministral3Sliding(c); err != nil {
		return nil, err
	}
	s.qkvBias, s.oBias, s.tie = false, false, c.Tie(true)
	r := withTheta(c.RopeFor(""), ministral3Theta)
	s.rope = func(bool) model.Rope { return r }
	d, err := build(w, s)
	if err != nil {
		return nil, err
	}
	if temp.beta != 0 {
		for _, b := range d.Layers {
			b.SelfAttn.QueryScale = temp.scale
		}
	}
	return d, nil
}

// llama4Temperature is the query scaling of Llama 4 and Ministral 3.
type llama4Temperature struct {
	beta float64
	orig int // original_max_position_embeddings: the length of one step
}

// scale returns 1 + β·log(1 + ⌊p / orig⌋) for the positions p of l new
// tokens of each sequence, [B, 1, L, 1] float32, computed as transformers
// does (float32 true division, floor, log). Left padding (negative
// positions, masked out) gets 1 rather than log(0).
func (t llama4Temperature) scale(offsets *metal.Array, l int) *metal.Array {
	pos := metal.Add(metal.ExpandDims(offsets, 1), metal.Arange(0, float64(l), 1, metal.Int32))
	p := metal.Maximum(metal.Astype(pos, metal.Float32), metal.Scalar(0, metal.Float32))
	steps := metal.Floor(metal.Div(p, metal.Scalar(float64(t.orig), metal.Float32)))
	s := metal.AddScalar(metal.MulScalar(metal.Log(metal.AddScalar(steps, 1)), t.beta), 1)
	return metal.Reshape(s, offsets.Dim(0), 1, l, 1)
}

// ministral3Temperature reads llama_4_scaling_beta and
// original_max_position_embeddings from rope_parameters (or a transformers 4
// rope_scaling). No β means no temperature (β = 0).
func ministral3Temperature(c *model.Config) (llama4Temperature, error) {
	var args struct {
		RopeParameters json.RawMessage `json:"rope_parameters"`
		RopeScaling    json.RawMessage `json:"rope_scaling"`
	}
	if err := c.Decode(&args); err != nil {
		return llama4Temperature{}, err
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
	}{{"rope_parameters", args.RopeParameters}, {"rope_scaling", args.RopeScaling}} {
		if len(f.raw) == 0 || string(f.raw) == "null" {
			continue
		}
		var p struct {
			Beta *float64 `json:"llama_4_scaling_beta"`
			Orig int      `json:"original_max_position_embeddings"`
		}
		if err := json.Unmarshal(f.raw, &p); err != nil {
			return llama4Temperature{}, c.FieldError(f.name, err.Error())
		}
		if p.Beta == nil {
			continue
		}
		if p.Orig <= 0 {
			return llama4Temperature{}, c.FieldError(f.name, "llama_4_scaling_beta needs a positive original_max_position_embeddings")
		}
		return llama4Temperature{beta: *p.Beta, orig: p.Orig}, nil
	}
	return llama4Temperature{}, nil
}

// ministral3Sliding returns the sliding layers and window. transformers
// windows every layer when sliding_window is set (and ignores layer_types),
// mlx-lm only layer_types' sliding_attention ones: a config on which they
// differ is refused.
func ministral3Sliding(c *model.Config) ([]bool, int, error) {
	if c.SlidingWindow <= 0 {
		for _, t := range c.LayerTypes {
			if t != "full_attention" {
				return nil, 0, c.FieldError("layer_types", fmt.Sprintf("layer type %q without a sliding_window", t))
			}
		}
		return nil, 0, nil
	}
	if len(c.LayerTypes) != c.NumHiddenLayers {
		return nil, 0, c.FieldError("sliding_window", "set without layer_types marking every layer sliding_attention (transformers windows all layers, mlx-lm none)")
	}
	sliding := make([]bool, c.NumHiddenLayers)
	for i, t := range c.LayerTypes {
		if t != "sliding_attention" {
			return nil, 0, c.FieldError("layer_types", fmt.Sprintf("layer %d is %q: transformers windows every layer of a Ministral 3 with a sliding_window", i, t))
		}
		sliding[i] = true
	}
	return sliding, c.SlidingWindow, nil
}

// sanitizeMinistral3 drops precomputed rotary frequencies, the tied head
// and FP8 activation scales; FP8 weights (weight_scale_inv) are refused.
func sanitizeMinistral3(c *model.Config, weights map[string]*metal.Array) error {
	for name := range weights {
		if strings.Contains(name, "weight_scale_inv") {
			return fmt.Errorf("%s: FP8 weights (weight_scale_inv) are not supported: use a bfloat16 or MLX-quantized checkpoint", name)
		}
	}
	dropKeys(weights, "self_attn.rotary_emb.inv_freq", "activation_scale")
	if c.Tie(true) {
		dropKeys(weights, "lm_head.")
	}
	return nil
}
