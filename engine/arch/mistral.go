// Port of mlx_lm/models/mistral.py (mlx-lm maps mistral onto llama.py).
package arch

import (
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
)

// newMistral builds a Mistral model: Llama with an explicit head_dim and,
// in older checkpoints, a sliding window that mlx-lm ignores (full attention).
func newMistral(c *model.Config, w *layer.Weights) (Model, error) {
	s, err := llamaSpec(c)
	if err != nil {
		return nil, err
	}
	s.sliding, s.window = nil, 0
	s.rope = func(bool) model.Rope { return withTheta(c.RopeFor(""), 10000) }
	return build(w, s)
}
