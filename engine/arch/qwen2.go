// Port of mlx_lm/models/qwen2.py.
package arch

import (
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
)

// newQwen2 builds a Qwen2 / Qwen2.5 model: Llama with biases on q, k, v
// (not o) and a rope base of 1e6 by default.
func newQwen2(c *model.Config, w *layer.Weights) (Model, error) {
	s, err := llamaSpec(c)
	if err != nil {
		return nil, err
	}
	s.qkvBias, s.oBias, s.sliding, s.window = true, false, nil, 0
	s.rope = func(bool) model.Rope { return withTheta(c.RopeFor("full_attention"), 1e6) }
	return build(w, s)
}
