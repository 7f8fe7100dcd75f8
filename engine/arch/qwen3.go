// Port of mlx_lm/models/qwen3.py.
package arch

import (
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
)

// newQwen3 builds a Qwen3 model: Llama with per-head RMSNorm of queries and
// keys before rope, no projection biases, and head_dim from the config.
func newQwen3(c *model.Config, w *layer.Weights) (Model, error) {
	s, err := llamaSpec(c)
	if err != nil {
		return nil, err
	}
	s.qkvBias, s.oBias, s.qkNorm, s.sliding, s.window = c.AttentionBias, c.AttentionBias, true, nil, 0
	s.rope = func(bool) model.Rope { return withTheta(c.RopeFor("full_attention"), 1e6) }
	return build(w, s)
}
