// Port of mlx_lm/models/glm4_moe.py (GLM-4.5 / 4.6 / 4.7).
package arch

import (
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newGlm4Moe, Sanitize: sanitizeGlm4Moe}, "glm4_moe")
}

// newGlm4Moe builds a GLM-4 MoE model: Llama-layout blocks whose attention
// rotates only the first partial_rotary_factor of each head (non-interleaved),
// with optional per-head q/k norms and q/k/v biases (never an o bias), and
// the noaux_tc mixture of experts after the first_k_dense_replace dense layers.
func newGlm4Moe(c *model.Config, w *layer.Weights) (Model, error) {
	a, err := readGroupedMoeArgs(c)
	if err != nil {
		return nil, err
	}
	var extra struct {
		UseQKNorm bool     `json:"use_qk_norm"`
		Partial   *float64 `json:"partial_rotary_factor"`
		RopeParam *struct {
			Partial *float64 `json:"partial_rotary_factor"`
		} `json:"rope_parameters"`
	}
	if err := c.Decode(&extra); err != nil {
		return nil, err
	}
	s, err := llamaSpec(c)
	if err != nil {
		return nil, err
	}
	if s.sliding != nil && anyTrue(s.sliding) {
		return nil, c.FieldError("layer_types", "glm4_moe has no sliding-window layers")
	}
	s.sliding, s.window = nil, 0
	s.qkvBias, s.oBias, s.qkNorm, s.glu = c.AttentionBias, false, extra.UseQKNorm, metal.SwiGLU
	s.tie = c.Tie(false)
	r := c.RopeFor("")
	// transformers' Glm4MoeConfig rotates half of each head unless
	// partial_rotary_factor says otherwise (in rope_parameters or beside it).
	f := 0.5
	switch {
	case extra.RopeParam != nil && extra.RopeParam.Partial != nil:
		f = *extra.RopeParam.Partial
	case extra.Partial != nil:
		f = *extra.Partial
	}
	if f <= 0 || f > 1 {
		return nil, c.FieldError("partial_rotary_factor", "must be in (0, 1]")
	}
	s.ropeDims = int(float64(c.HeadDim) * f)
	if s.ropeDims < 2 || s.ropeDims%2 != 0 {
		return nil, c.FieldError("partial_rotary_factor", "must rotate an even number of head features")
	}
	s.rope = func(bool) model.Rope { return withTheta(r, 10000) }
	s.ffn = func(w *layer.Weights, p string, i int) FeedForward {
		if !a.sparse(i) {
			return s.mlp(w, p, c.IntermediateSize)
		}
		return newGroupedMoE(w, p, c.HiddenSize, a, s.mlp)
	}
	return build(w, s)
}

// sanitizeGlm4Moe is sanitizeGroupedMoe, plus the tied head's removal.
func sanitizeGlm4Moe(c *model.Config, weights map[string]*metal.Array) error {
	if c.Tie(false) {
		dropKeys(weights, "lm_head.")
	}
	return sanitizeGroupedMoe(c, weights)
}
