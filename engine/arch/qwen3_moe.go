// Port of mlx_lm/models/qwen3_moe.py.
package arch

import (
	"fmt"
	"slices"
	"strings"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// qwen3MoeArgs are the mixture-of-experts fields of the config.
type qwen3MoeArgs struct {
	NumExperts          int   `json:"num_experts"`
	NumLocalExperts     int   `json:"num_local_experts"`
	NumExpertsPerTok    int   `json:"num_experts_per_tok"`
	DecoderSparseStep   int   `json:"decoder_sparse_step"`
	MLPOnlyLayers       []int `json:"mlp_only_layers"`
	MoeIntermediateSize int   `json:"moe_intermediate_size"`
	NormTopkProb        bool  `json:"norm_topk_prob"`
}

// readQwen3MoeArgs decodes and validates the MoE fields (transformers 5
// writes num_local_experts for num_experts).
func readQwen3MoeArgs(c *model.Config) (qwen3MoeArgs, error) {
	a := qwen3MoeArgs{DecoderSparseStep: 1}
	if err := c.Decode(&a); err != nil {
		return a, err
	}
	if a.NumExperts == 0 {
		a.NumExperts = a.NumLocalExperts
	}
	err := c.RequirePositive(map[string]int{"num_experts": a.NumExperts, "num_experts_per_tok": a.NumExpertsPerTok,
		"moe_intermediate_size": a.MoeIntermediateSize, "decoder_sparse_step": a.DecoderSparseStep})
	if err == nil && a.NumExpertsPerTok > a.NumExperts {
		err = c.FieldError("num_experts_per_tok", fmt.Sprintf("%d exceeds num_experts %d", a.NumExpertsPerTok, a.NumExperts))
	}
	return a, err
}

// sparse reports whether layer i uses experts.
func (a qwen3MoeArgs) sparse(i int) bool {
	return !slices.Contains(a.MLPOnlyLayers, i) && (i+1)%a.DecoderSparseStep == 0
}

// SparseMoeBlock routes each token to its top-k experts (Qwen3MoeSparseMoeBlock).
type SparseMoeBlock struct {
	Gate         *layer.Linear
	SwitchMLP    *SwitchGLU
	TopK         int
	NormTopkProb bool
	// Reduce, when set, sums the output over a tensor-parallel group (each
	// rank holds part of every expert's width).
	Reduce func(*metal.Array) *metal.Array
}

// Forward implements FeedForward.
func (m *SparseMoeBlock) Forward(x *metal.Array) *metal.Array {
	gates := metal.Softmax(m.Gate.Forward(x), -1)
	e := gates.Dim(-1)
	inds := metal.Argpartition(gates, e-m.TopK, -1)
	s := inds.Shape()
	if s == nil { // an earlier op failed: the sticky error reports it
		return inds
	}
	start := make([]int, len(s))
	start[len(s)-1] = e - m.TopK
	inds = metal.Slice(inds, start, s)
	scores := metal.TakeAlongAxis(gates, inds, -1)
	if m.NormTopkProb {
		scores = metal.Div(scores, metal.Sum(scores, []int{-1}, true))
	}
	y := m.SwitchMLP.Forward(x, inds)
	return reduce(m.Reduce, metal.Sum(metal.Mul(y, metal.ExpandDims(scores, -1)), []int{-2}, false))
}

// newQwen3Moe builds a Qwen3 MoE model: Qwen3 attention with sparse MLPs.
func newQwen3Moe(c *model.Config, w *layer.Weights) (Model, error) {
	a, err := readQwen3MoeArgs(c)
	if err != nil {
		return nil, err
	}
	s, err := llamaSpec(c)
	if err != nil {
		return nil, err
	}
	s.qkvBias, s.oBias, s.qkNorm, s.sliding, s.window = false, false, true, nil, 0
	s.rope = func(bool) model.Rope { return withTheta(c.RopeFor(""), 10000) }
	s.ffn = func(w *layer.Weights, p string, i int) FeedForward {
		if !a.sparse(i) {
			return s.mlp(w, p, c.IntermediateSize)
		}
		return &SparseMoeBlock{
			Gate:      layer.NewLinear(w, p+".gate", c.HiddenSize, a.NumExperts, false),
			SwitchMLP: newSwitchGLU(w, p+".switch_mlp", c.HiddenSize, a.MoeIntermediateSize, a.NumExperts),
			TopK:      a.NumExpertsPerTok, NormTopkProb: a.NormTopkProb,
		}
	}
	return build(w, s)
}

// sanitizeQwen3Moe stacks per-expert weights (mlp.experts.E.{up,down,gate}_proj)
// into switch_mlp tensors [experts, out, in], after the Llama clean-up.
func sanitizeQwen3Moe(c *model.Config, weights map[string]*metal.Array) error {
	if err := sanitizeLlama(c, weights); err != nil {
		return err
	}
	a, err := readQwen3MoeArgs(c)
	if err != nil {
		return err
	}
	for l := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.mlp", l)
		for _, n := range []string{"up_proj", "down_proj", "gate_proj"} {
			if err := stackExperts(weights, p, n, a.NumExperts); err != nil {
				return err
			}
		}
	}
	return nil
}

// quantQwen3Moe keeps the router at 8 bits, group 64 (mlx-lm's
// Qwen3-MoE quant_predicate): routing is sensitive to rounding.
func quantQwen3Moe(path string) *model.QuantParams {
	if strings.HasSuffix(path, "mlp.gate") {
		return &model.QuantParams{GroupSize: 64, Bits: 8, Mode: metal.ModeAffine}
	}
	return nil
}

// stackExperts replaces p.experts.E.n.{weight,scales,biases} by p.switch_mlp.n.*.
func stackExperts(weights map[string]*metal.Array, p, n string, experts int) error {
	for _, suffix := range []string{"weight", "scales", "biases"} {
		if _, ok := weights[fmt.Sprintf("%s.experts.0.%s.%s", p, n, suffix)]; !ok {
			continue
		}
		parts := make([]*metal.Array, experts)
		for e := range experts {
			key := fmt.Sprintf("%s.experts.%d.%s.%s", p, e, n, suffix)
			a, ok := weights[key]
			if !ok {
				return fmt.Errorf("%w %q", layer.ErrMissingTensor, key)
			}
			parts[e] = a
			delete(weights, key)
		}
		weights[fmt.Sprintf("%s.switch_mlp.%s.%s", p, n, suffix)] = metal.Stack(parts, 0)
	}
	return nil
}
