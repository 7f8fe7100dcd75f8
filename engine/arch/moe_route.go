// The DeepSeek-style mixture of experts glm4_moe and deepseek_v3 share:
// mlx_lm/models/glm4_moe.py and deepseek_v3.py (MoEGate, group_expert_select,
// MoE), checked against transformers' Glm4MoeTopkRouter / DeepseekV3TopkRouter.
package arch

import (
	"fmt"
	"math"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// groupedMoeArgs are the config fields of the noaux_tc mixture of experts.
type groupedMoeArgs struct {
	NRoutedExperts      int     `json:"n_routed_experts"`
	NSharedExperts      int     `json:"n_shared_experts"`
	NumExpertsPerTok    int     `json:"num_experts_per_tok"`
	MoeIntermediateSize int     `json:"moe_intermediate_size"`
	NGroup              int     `json:"n_group"`
	TopkGroup           int     `json:"topk_group"`
	NormTopkProb        bool    `json:"norm_topk_prob"`
	RoutedScalingFactor float64 `json:"routed_scaling_factor"`
	FirstKDenseReplace  int     `json:"first_k_dense_replace"`
	MoeLayerFreq        int     `json:"moe_layer_freq"`
	TopkMethod          string  `json:"topk_method"`
	ScoringFunc         string  `json:"scoring_func"`
}

// readGroupedMoeArgs decodes and validates the MoE fields; a config without
// n_routed_experts is dense everywhere (as in mlx-lm).
func readGroupedMoeArgs(c *model.Config) (groupedMoeArgs, error) {
	a := groupedMoeArgs{NGroup: 1, TopkGroup: 1, RoutedScalingFactor: 1, MoeLayerFreq: 1,
		TopkMethod: "noaux_tc", ScoringFunc: "sigmoid"}
	if err := c.Decode(&a); err != nil {
		return a, err
	}
	if a.NRoutedExperts == 0 {
		return a, nil
	}
	if a.TopkMethod != "noaux_tc" {
		return a, c.FieldError("topk_method", fmt.Sprintf("%q is not supported (only noaux_tc)", a.TopkMethod))
	}
	if a.ScoringFunc != "sigmoid" {
		return a, c.FieldError("scoring_func", fmt.Sprintf("%q is not supported (only sigmoid)", a.ScoringFunc))
	}
	err := c.RequirePositive(map[string]int{"num_experts_per_tok": a.NumExpertsPerTok,
		"moe_intermediate_size": a.MoeIntermediateSize, "n_group": a.NGroup, "topk_group": a.TopkGroup,
		"moe_layer_freq": a.MoeLayerFreq})
	switch {
	case err != nil:
		return a, err
	case a.NSharedExperts < 0:
		return a, c.FieldError("n_shared_experts", "must not be negative")
	case a.FirstKDenseReplace < 0:
		return a, c.FieldError("first_k_dense_replace", "must not be negative")
	case a.NRoutedExperts%a.NGroup != 0:
		return a, c.FieldError("n_group", fmt.Sprintf("%d does not divide n_routed_experts %d", a.NGroup, a.NRoutedExperts))
	case a.TopkGroup > a.NGroup:
		return a, c.FieldError("topk_group", fmt.Sprintf("%d exceeds n_group %d", a.TopkGroup, a.NGroup))
	case a.NGroup > 1 && a.NRoutedExperts/a.NGroup < 2:
		// the group score is the sum of each group's two best experts
		return a, c.FieldError("n_group", fmt.Sprintf("groups of %d experts (need at least 2)", a.NRoutedExperts/a.NGroup))
	case a.NumExpertsPerTok > a.TopkGroup*(a.NRoutedExperts/a.NGroup):
		return a, c.FieldError("num_experts_per_tok", fmt.Sprintf("%d exceeds the %d experts of the topk_group groups",
			a.NumExpertsPerTok, a.TopkGroup*(a.NRoutedExperts/a.NGroup)))
	}
	return a, nil
}

// sparse reports whether layer i routes to experts (mlx-lm's condition;
// transformers has no moe_layer_freq, which is 1 in every released config).
func (a groupedMoeArgs) sparse(i int) bool {
	return a.NRoutedExperts > 0 && i >= a.FirstKDenseReplace && i%a.MoeLayerFreq == 0
}

// GroupRouter is the noaux_tc router: sigmoid scores, a per-expert
// correction bias added for the choice only, the best topk_group of n_group
// groups (ranked by the sum of their two best experts), then the top-k
// experts of those groups, weighted by their uncorrected scores.
type GroupRouter struct {
	// Weight is the router's [experts, hidden] matrix; mlx-lm keeps it a
	// bare parameter (never quantized), as here.
	Weight *metal.Array
	// Bias is e_score_correction_bias [experts].
	Bias                  *metal.Array
	TopK, NGroup, TopkGrp int
	NormTopkProb          bool
	Scale                 float64
}

// newGroupRouter takes p.weight and p.e_score_correction_bias.
func newGroupRouter(w *layer.Weights, p string, hidden int, a groupedMoeArgs) *GroupRouter {
	return &GroupRouter{
		Weight: w.Tensor(p+".weight", a.NRoutedExperts, hidden),
		Bias:   w.Tensor(p+".e_score_correction_bias", a.NRoutedExperts),
		TopK:   a.NumExpertsPerTok, NGroup: a.NGroup, TopkGrp: a.TopkGroup,
		NormTopkProb: a.NormTopkProb, Scale: a.RoutedScalingFactor,
	}
}

// Route returns each token's experts [..., k] (int32) and their weights
// [..., k] (float32) for x [..., hidden].
func (r *GroupRouter) Route(x *metal.Array) (inds, weights *metal.Array) {
	logits := metal.Matmul(x, metal.Transpose(r.Weight))
	scores := metal.Sigmoid(metal.Astype(logits, metal.Float32))
	choice := metal.Add(scores, metal.Astype(r.Bias, metal.Float32))
	shape := choice.Shape()
	if shape == nil { // an earlier op failed: the sticky error reports it
		return choice, choice
	}
	e := shape[len(shape)-1]
	if r.NGroup > 1 && r.TopkGrp < r.NGroup {
		grouped := metal.Reshape(choice, append(append([]int{}, shape[:len(shape)-1]...), r.NGroup, e/r.NGroup)...)
		groupScores := metal.Sum(metal.Topk(grouped, 2, -1), []int{-1}, true) // [..., G, 1]
		drop := r.NGroup - r.TopkGrp
		idx := metal.Argpartition(groupScores, drop-1, -2)
		gs := idx.Shape()
		if gs == nil {
			return idx, idx
		}
		end := append([]int{}, gs...)
		end[len(end)-2] = drop
		idx = metal.Slice(idx, make([]int, len(gs)), end)
		// transformers (and DeepSeek's own inference code) mask the dropped
		// groups with -inf; mlx-lm writes 0, which differs only when a
		// kept expert's corrected score is negative.
		grouped = metal.PutAlongAxis(grouped, idx, metal.Scalar(math.Inf(-1), metal.Float32), -2)
		choice = metal.Reshape(grouped, shape...)
	}
	inds = metal.Argpartition(metal.Negative(choice), r.TopK-1, -1)
	end := append([]int{}, shape...)
	end[len(end)-1] = r.TopK
	inds = metal.Slice(inds, make([]int, len(shape)), end)
	weights = metal.TakeAlongAxis(scores, inds, -1)
	if r.NormTopkProb {
		// transformers normalizes for every k (mlx-lm only for k > 1, where
		// the two agree; no released config routes to a single expert).
		weights = metal.Div(weights, metal.Sum(weights, []int{-1}, true))
	}
	if r.Scale != 1 {
		weights = metal.MulScalar(weights, r.Scale)
	}
	return inds, weights
}

// GroupedMoE is the routed experts plus the always-on shared experts.
type GroupedMoE struct {
	Router    *GroupRouter
	SwitchMLP *SwitchGLU
	// Shared is nil when the config has no shared experts.
	Shared *MLP
	// Reduce, when set, sums the output (routed and shared experts added)
	// over a tensor-parallel group (each rank holds part of every expert's
	// width), as mlx-lm's sharding_group does.
	Reduce func(*metal.Array) *metal.Array
}

// Forward implements FeedForward.
func (m *GroupedMoE) Forward(x *metal.Array) *metal.Array {
	inds, weights := m.Router.Route(x)
	y := m.SwitchMLP.Forward(x, inds)
	y = metal.Astype(metal.Sum(metal.Mul(y, metal.ExpandDims(weights, -1)), []int{-2}, false), x.Dtype())
	if m.Shared != nil {
		y = metal.Add(y, m.Shared.Forward(x))
	}
	return reduce(m.Reduce, y)
}

// newGroupedMoE builds layer p's MoE (p is the layer's ".mlp" prefix).
func newGroupedMoE(w *layer.Weights, p string, hidden int, a groupedMoeArgs, mlp func(w *layer.Weights, p string, hidden int) *MLP) *GroupedMoE {
	m := &GroupedMoE{
		Router:    newGroupRouter(w, p+".gate", hidden, a),
		SwitchMLP: newSwitchGLU(w, p+".switch_mlp", hidden, a.MoeIntermediateSize, a.NRoutedExperts),
	}
	if a.NSharedExperts > 0 {
		m.Shared = mlp(w, p+".shared_experts", a.MoeIntermediateSize*a.NSharedExperts)
	}
	return m
}

// sanitizeGroupedMoe stacks per-expert weights into switch_mlp tensors and
// drops what mlx-lm drops: the multi-token-prediction layers past
// num_hidden_layers and precomputed rotary frequencies.
func sanitizeGroupedMoe(c *model.Config, weights map[string]*metal.Array) error {
	a, err := readGroupedMoeArgs(c)
	if err != nil {
		return err
	}
	for name := range weights {
		var l int
		if n, _ := fmt.Sscanf(name, "model.layers.%d.", &l); n == 1 && l >= c.NumHiddenLayers {
			delete(weights, name)
		}
	}
	dropKeys(weights, "rotary_emb.inv_freq")
	for name := range weights {
		for _, f := range []string{".weight_scale_inv", ".weight_packed", ".weight_shape"} {
			if len(name) > len(f) && name[len(name)-len(f):] == f {
				return fmt.Errorf("%w: %q: FP8 / compressed-tensors checkpoints are not supported; use an MLX conversion (mlx-community) or a bfloat16 checkpoint",
					layer.ErrUnexpectedTensor, name)
			}
		}
	}
	if a.NRoutedExperts == 0 {
		return nil
	}
	for l := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.mlp", l)
		for _, n := range []string{"up_proj", "down_proj", "gate_proj"} {
			if err := stackExperts(weights, p, n, a.NRoutedExperts); err != nil {
				return err
			}
		}
	}
	return nil
}
