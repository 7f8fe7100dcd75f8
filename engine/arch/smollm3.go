// Port of mlx_lm/models/smollm3.py.
package arch

import (
	"fmt"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
)

func init() {
	register(Arch{New: newSmolLM3, Sanitize: sanitizeLlama}, "smollm3")
}

// smolLM3Args are the SmolLM3 fields beyond the shared config.
type smolLM3Args struct {
	// NoRopeLayers holds 1 for a layer with rope and 0 for a NoPE layer.
	NoRopeLayers        []int `json:"no_rope_layers"`
	NoRopeLayerInterval *int  `json:"no_rope_layer_interval"`
	UseSlidingWindow    bool  `json:"use_sliding_window"`
}

// newSmolLM3 builds a SmolLM3 model: Llama whose layers listed in
// no_rope_layers (or every no_rope_layer_interval-th one) attend without
// rotary positions, rope base 2e6 when unset (transformers' default).
func newSmolLM3(c *model.Config, w *layer.Weights) (Model, error) {
	s, err := llamaSpec(c)
	if err != nil {
		return nil, err
	}
	var args smolLM3Args
	if err := c.Decode(&args); err != nil {
		return nil, err
	}
	useRope, err := smolLM3UseRope(c, args)
	if err != nil {
		return nil, err
	}
	if args.UseSlidingWindow && anyTrue(s.sliding) {
		// transformers windows these layers, mlx-lm does not: refuse rather
		// than pick one.
		return nil, c.FieldError("use_sliding_window", "sliding-window SmolLM3 layers are not supported")
	}
	s.sliding, s.window = nil, 0
	s.tie = c.Tie(true)
	s.rope = func(bool) model.Rope { return withTheta(c.RopeFor("full_attention"), 2e6) }
	d, err := build(w, s)
	if err != nil {
		return nil, err
	}
	for i, use := range useRope {
		if !use {
			d.Layers[i].SelfAttn.Rope = nil
		}
	}
	return d, nil
}

// smolLM3UseRope reports per layer whether it applies rope: no_rope_layers
// when set (one entry per layer), else all but every interval-th layer.
func smolLM3UseRope(c *model.Config, args smolLM3Args) ([]bool, error) {
	use := make([]bool, c.NumHiddenLayers)
	if args.NoRopeLayers != nil {
		if len(args.NoRopeLayers) < c.NumHiddenLayers {
			return nil, c.FieldError("no_rope_layers", fmt.Sprintf("has %d entries for %d layers", len(args.NoRopeLayers), c.NumHiddenLayers))
		}
		for i, v := range args.NoRopeLayers[:c.NumHiddenLayers] {
			if v != 0 && v != 1 {
				return nil, c.FieldError("no_rope_layers", fmt.Sprintf("entry %d is %d, want 0 or 1", i, v))
			}
			use[i] = v == 1
		}
		return use, nil
	}
	interval := 4
	if args.NoRopeLayerInterval != nil {
		interval = *args.NoRopeLayerInterval
	}
	if interval <= 0 {
		return nil, c.FieldError("no_rope_layer_interval", fmt.Sprintf("must be positive, got %d", interval))
	}
	for i := range use {
		use[i] = (i+1)%interval != 0
	}
	return use, nil
}
