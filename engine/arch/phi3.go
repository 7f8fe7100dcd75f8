// Port of mlx_lm/models/phi3.py.
package arch

import (
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// phi3Defaults are mlx-lm's phi3 ModelArgs defaults.
var phi3Defaults = map[string]any{"max_position_embeddings": 131072, "original_max_position_embeddings": 4096}

// newPhi3 builds a Phi-3 model: fused qkv_proj and gate_up_proj (split after
// the matmul, as mlx-lm does), head_dim = hidden / heads, partial rotary
// factor, and su/longrope scaling.
func newPhi3(raw *model.Config, w *layer.Weights) (Model, error) {
	c, err := raw.WithDefaults(phi3Defaults)
	if err != nil {
		return nil, err
	}
	c.HeadDim = c.HiddenSize / max(c.NumAttentionHeads, 1)
	if err := requireCommon(c); err != nil {
		return nil, err
	}
	if err := checkHeads(c); err != nil {
		return nil, err
	}
	r := withTheta(c.RopeFor(""), 10000)
	if r.Type == "longrope" && r.OriginalMaxPositionEmbeddings == 0 {
		var args struct {
			Orig int `json:"original_max_position_embeddings"`
		}
		if err := c.Decode(&args); err != nil {
			return nil, err
		}
		r.OriginalMaxPositionEmbeddings = args.Orig
	}
	s := spec{
		cfg: c, fusedQKV: true, fusedGateUp: true, glu: metal.SwiGLU, tie: c.Tie(false),
		ropeDims: int(float64(c.HeadDim) * r.PartialRotaryFactor),
		rope:     func(bool) model.Rope { return r },
	}
	return build(w, s)
}
