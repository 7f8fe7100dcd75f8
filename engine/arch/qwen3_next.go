// Port of mlx_lm/models/qwen3_next.py: Qwen3-Next, Gated DeltaNet linear
// attention layers interleaved with gated full attention, and a mixture
// of experts with a gated shared expert. Qwen3.5 (qwen3_5.go) reuses it
// with its own projection layout.
package arch

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newQwen3Next, Sanitize: sanitizeQwen3Next, Quant: quantQwen3Next}, "qwen3_next")
}

// qwen3NextArgs are the Qwen3-Next fields beyond the shared config.
type qwen3NextArgs struct {
	LinearNumValueHeads          int     `json:"linear_num_value_heads"`
	LinearNumKeyHeads            int     `json:"linear_num_key_heads"`
	LinearKeyHeadDim             int     `json:"linear_key_head_dim"`
	LinearValueHeadDim           int     `json:"linear_value_head_dim"`
	LinearConvKernelDim          int     `json:"linear_conv_kernel_dim"`
	NumExperts                   int     `json:"num_experts"`
	NumExpertsPerTok             int     `json:"num_experts_per_tok"`
	DecoderSparseStep            int     `json:"decoder_sparse_step"`
	SharedExpertIntermediateSize int     `json:"shared_expert_intermediate_size"`
	MLPOnlyLayers                []int   `json:"mlp_only_layers"`
	MoeIntermediateSize          int     `json:"moe_intermediate_size"`
	NormTopkProb                 bool    `json:"norm_topk_prob"`
	FullAttentionInterval        int     `json:"full_attention_interval"`
	PartialRotaryFactor          float64 `json:"partial_rotary_factor"`
}

// hybridLayout tells apart the two Gated DeltaNet checkpoints: Qwen3-Next
// fuses q, k, v, z (interleaved per key head) and b, a; Qwen3.5 keeps
// in_proj_qkv, in_proj_z, in_proj_b and in_proj_a apart.
type hybridLayout int

const (
	layoutQwen3Next hybridLayout = iota
	layoutQwen35
)

// denseLayer reports whether layer i has a dense MLP rather than experts
// (decoder_sparse_step must be positive).
func (a qwen3NextArgs) denseLayer(i int) bool {
	return a.NumExperts <= 0 || slices.Contains(a.MLPOnlyLayers, i) || (i+1)%a.DecoderSparseStep != 0
}

// anyDense reports whether some layer of n has a dense MLP.
func (a qwen3NextArgs) anyDense(n int) bool {
	for i := range n {
		if a.denseLayer(i) {
			return true
		}
	}
	return false
}

// readQwen3NextArgs decodes and validates the config.
func readQwen3NextArgs(c *model.Config) (qwen3NextArgs, error) {
	a := qwen3NextArgs{DecoderSparseStep: 1, FullAttentionInterval: 4, PartialRotaryFactor: 1}
	if err := c.Decode(&a); err != nil {
		return a, err
	}
	if r := c.RopeFor("full_attention"); r.PartialRotaryFactor > 0 {
		a.PartialRotaryFactor = r.PartialRotaryFactor
	}
	if err := c.RequirePositive(map[string]int{
		"linear_num_value_heads": a.LinearNumValueHeads, "linear_num_key_heads": a.LinearNumKeyHeads,
		"linear_key_head_dim": a.LinearKeyHeadDim, "linear_value_head_dim": a.LinearValueHeadDim,
		"linear_conv_kernel_dim": a.LinearConvKernelDim, "decoder_sparse_step": a.DecoderSparseStep,
	}); err != nil {
		return a, err
	}
	common := commonFields(c)
	if !a.anyDense(c.NumHiddenLayers) {
		// Every layer a mixture of experts (Qwen3.5-35B-A3B's config has no
		// intermediate_size): the dense width is never used.
		delete(common, "intermediate_size")
	}
	if err := c.RequirePositive(common); err != nil {
		return a, err
	}
	if err := checkHeads(c); err != nil {
		return a, err
	}
	if a.LinearNumValueHeads%a.LinearNumKeyHeads != 0 {
		return a, c.FieldError("linear_num_key_heads", fmt.Sprintf("%d does not divide linear_num_value_heads %d", a.LinearNumKeyHeads, a.LinearNumValueHeads))
	}
	if a.NumExperts > 0 {
		if err := c.RequirePositive(map[string]int{"num_experts_per_tok": a.NumExpertsPerTok,
			"moe_intermediate_size": a.MoeIntermediateSize}); err != nil {
			return a, err
		}
		if a.NumExpertsPerTok > a.NumExperts {
			return a, c.FieldError("num_experts_per_tok", fmt.Sprintf("%d exceeds num_experts %d", a.NumExpertsPerTok, a.NumExperts))
		}
	}
	if dims := float64(c.HeadDim) * a.PartialRotaryFactor; a.PartialRotaryFactor <= 0 || a.PartialRotaryFactor > 1 || dims != math.Trunc(dims) || int(dims)%2 != 0 {
		return a, c.FieldError("partial_rotary_factor", fmt.Sprintf("%g of head_dim %d is no even number of features", a.PartialRotaryFactor, c.HeadDim))
	}
	return a, nil
}

// readHybrid reads a Gated DeltaNet hybrid's settings and which layers are
// Gated DeltaNet ones.
func readHybrid(c *model.Config) (qwen3NextArgs, []bool, error) {
	a, err := readQwen3NextArgs(c)
	if err != nil {
		return a, nil, err
	}
	linear, err := linearLayers(c, a)
	return a, linear, err
}

// linearLayers marks the Gated DeltaNet layers: layer_types when given,
// else every layer but each full_attention_interval-th.
func linearLayers(c *model.Config, a qwen3NextArgs) ([]bool, error) {
	out := make([]bool, c.NumHiddenLayers)
	if len(c.LayerTypes) > 0 {
		if len(c.LayerTypes) != c.NumHiddenLayers {
			return nil, c.FieldError("layer_types", fmt.Sprintf("%d types for %d layers", len(c.LayerTypes), c.NumHiddenLayers))
		}
		for i, t := range c.LayerTypes {
			switch t {
			case "linear_attention":
				out[i] = true
			case "full_attention":
			default:
				return nil, c.FieldError("layer_types", fmt.Sprintf("layer %d: unknown type %q (want linear_attention or full_attention)", i, t))
			}
		}
		return out, nil
	}
	if a.FullAttentionInterval <= 0 {
		return nil, c.FieldError("full_attention_interval", "must be positive")
	}
	for i := range out {
		out[i] = (i+1)%a.FullAttentionInterval != 0
	}
	return out, nil
}

// HybridModel is a Gated DeltaNet hybrid (Qwen3-Next, Qwen3.5): embedding,
// layers of linear or gated full attention each with an MLP or MoE, final
// norm and head.
type HybridModel struct {
	EmbedTokens *layer.Embedding
	Layers      []*hybridLayer
	Norm        *layer.RMSNorm
	LMHead      *layer.Linear
	arrays      []*metal.Array
	// faIdx and ssmIdx are the first full-attention and linear layers,
	// whose caches make their kind's masks (-1: none).
	faIdx, ssmIdx int
	// stage, when set, is the layers this rank of a pipeline runs.
	stage *stage
}

type hybridLayer struct {
	Linear    *GatedDeltaNet
	Attn      *GatedAttention
	MLP       FeedForward
	InputNorm *layer.RMSNorm
	PostNorm  *layer.RMSNorm
}

// GatedAttention is Qwen3-Next's full attention: q_proj gives each head's
// query and an output gate, q/k RMSNorm, partial rope, and the output is
// multiplied by sigmoid(gate) before o_proj.
type GatedAttention struct {
	QProj, KProj, VProj, OProj *layer.Linear
	QNorm, KNorm               *layer.RMSNorm
	NHeads, NKVHeads, HeadDim  int
	Scale                      float64
	Rope                       *layer.RoPE
}

// Forward attends x [B, L, H].
func (a *GatedAttention) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array {
	b, l := x.Dim(0), x.Dim(1)
	qg := metal.Reshape(a.QProj.Forward(x), b, l, a.NHeads, 2*a.HeadDim)
	parts := metal.SplitEqual(qg, 2, -1)
	q, gate := parts[0], metal.Reshape(parts[1], b, l, a.NHeads*a.HeadDim)
	k := metal.Reshape(a.KProj.Forward(x), b, l, a.NKVHeads, a.HeadDim)
	v := metal.Reshape(a.VProj.Forward(x), b, l, a.NKVHeads, a.HeadDim)
	q = metal.Transpose(a.QNorm.Forward(q), 0, 2, 1, 3)
	k = metal.Transpose(a.KNorm.Forward(k), 0, 2, 1, 3)
	v = metal.Transpose(v, 0, 2, 1, 3)
	q, k = a.Rope.Apply(q, offsets), a.Rope.Apply(k, offsets)
	out := cache.Attention(c, q, k, v, a.Scale, mask)
	out = metal.Reshape(metal.Transpose(out, 0, 2, 1, 3), b, l, a.NHeads*a.HeadDim)
	return a.OProj.Forward(metal.Mul(out, metal.Sigmoid(gate)))
}

// GatedDeltaNet is the linear-attention layer: projections to q, k, v, the
// output gate z and the per-head b (write strength) and a (decay), a short
// causal convolution over q, k, v with SiLU, the gated delta recurrence, a
// gated RMSNorm and out_proj. Its cache holds the convolution state and the
// recurrent state [B, Hv, Dv, Dk] (float32).
type GatedDeltaNet struct {
	layout hybridLayout
	// Qwen3-Next: InQKVZ and InBA; Qwen3.5: InQKV, InZ, InB, InA.
	InQKVZ, InBA, InQKV, InZ, InB, InA *layer.Linear
	OutProj                            *layer.Linear
	Kernel                             *metal.Array // [K, conv_dim]
	ALog, DtBias                       *metal.Array
	NormWeight                         *metal.Array
	Eps                                float64
	NK, NV, DK, DV, ConvK              int
}

// project returns q, k, v flattened per position ([B, S, key_dim] twice,
// [B, S, value_dim]), z [B, S, Hv, Dv], b and a [B, S, Hv].
func (g *GatedDeltaNet) project(x *metal.Array) (q, k, v, z, b, a *metal.Array) {
	bs, s := x.Dim(0), x.Dim(1)
	if g.layout == layoutQwen35 {
		parts := metal.Split(g.InQKV.Forward(x), []int{g.NK * g.DK, 2 * g.NK * g.DK}, -1)
		z = metal.Reshape(g.InZ.Forward(x), bs, s, g.NV, g.DV)
		return parts[0], parts[1], parts[2], z, g.InB.Forward(x), g.InA.Forward(x)
	}
	r := g.NV / g.NK
	qkvz := metal.Reshape(g.InQKVZ.Forward(x), bs, s, g.NK, -1)
	ba := metal.Reshape(g.InBA.Forward(x), bs, s, g.NK, -1)
	p := metal.Split(qkvz, []int{g.DK, 2 * g.DK, 2*g.DK + r*g.DV}, -1)
	pb := metal.Split(ba, []int{r}, -1)
	q = metal.Reshape(p[0], bs, s, g.NK*g.DK)
	k = metal.Reshape(p[1], bs, s, g.NK*g.DK)
	v = metal.Reshape(p[2], bs, s, g.NV*g.DV)
	z = metal.Reshape(p[3], bs, s, g.NV, g.DV)
	return q, k, v, z, metal.Reshape(pb[0], bs, s, g.NV), metal.Reshape(pb[1], bs, s, g.NV)
}

// Forward applies the layer to x [B, S, H]; mask is an "array" [B, S] of
// real (not padded) positions or none; c is nil, a *cache.Recurrent of two
// arrays, or a *cache.Rows of them.
func (g *GatedDeltaNet) Forward(x *metal.Array, mask cache.Mask, c cache.Cache) *metal.Array {
	bs, s := x.Dim(0), x.Dim(1)
	q, k, v, z, b, a := g.project(x)
	mixed := metal.Concatenate([]*metal.Array{q, k, v}, -1)
	var m *metal.Array
	if mask.Mode == "array" && mask.Array != nil {
		m = mask.Array
		mixed = metal.Where(metal.ExpandDims(m, 2), mixed, metal.Scalar(0, mixed.Dtype()))
	}
	var out *metal.Array
	switch c := c.(type) {
	case *cache.Rows:
		rows := c.Seqs()
		outs := make([]*metal.Array, len(rows))
		for i, rc := range rows {
			outs[i] = g.core(rowOf(mixed, i), rowOf(a, i), rowOf(b, i), nil, rc)
		}
		out = metal.Concatenate(outs, 0)
	default:
		out = g.core(mixed, a, b, m, c)
	}
	// Gated RMSNorm: rms_norm(out)·w · silu(z), in float32 for the gate.
	normed := metal.RMSNorm(out, g.NormWeight, g.Eps)
	zf := metal.Astype(z, metal.Float32)
	y := metal.Astype(metal.Mul(metal.Mul(zf, metal.Sigmoid(zf)), metal.Astype(normed, metal.Float32)), out.Dtype())
	return g.OutProj.Forward(metal.Reshape(y, bs, s, g.NV*g.DV))
}

// core runs the convolution and the recurrence for mixed q|k|v [B, S, C]
// with the cache c (nil: from zeros, nothing kept); returns [B, S, Hv, Dv].
func (g *GatedDeltaNet) core(mixed, a, b, mask *metal.Array, c cache.Cache) *metal.Array {
	bs, s, cd := mixed.Dim(0), mixed.Dim(1), mixed.Dim(2)
	var rc *cache.Recurrent
	if c != nil {
		var ok bool
		if rc, ok = c.(*cache.Recurrent); !ok {
			panic(fmt.Sprintf("gated delta net: needs a state cache, got %T", c))
		}
	}
	var convState, state *metal.Array
	if rc != nil {
		convState, state = rc.Get(0), rc.Get(1)
	}
	if convState == nil {
		convState = metal.Zeros([]int{bs, g.ConvK - 1, cd}, mixed.Dtype())
	}
	in := metal.Concatenate([]*metal.Array{convState, mixed}, 1)
	if rc != nil {
		n := in.Dim(1)
		rc.Set(0, metal.Contiguous(metal.Slice(in, []int{0, n - (g.ConvK - 1), 0}, []int{bs, n, cd})))
	}
	conv := causalConv(in, g.Kernel, nil)
	conv = metal.Mul(conv, metal.Sigmoid(conv))
	kd := g.NK * g.DK
	parts := metal.Split(conv, []int{kd, 2 * kd}, -1)
	q := metal.Reshape(parts[0], bs, s, g.NK, g.DK)
	k := metal.Reshape(parts[1], bs, s, g.NK, g.DK)
	v := metal.Reshape(parts[2], bs, s, g.NV, g.DV)
	q, k = normalizeQK(q, k)
	y, newState := gatedDeltaOps(q, k, v, gatedDeltaG(g.ALog, a, g.DtBias), metal.Sigmoid(b), state, mask)
	if rc != nil {
		rc.Set(1, newState)
		rc.Advance(s)
	}
	return y
}

// rowOf returns x[i:i+1] along the batch axis.
func rowOf(x *metal.Array, i int) *metal.Array {
	s := x.Shape()
	start := make([]int, len(s))
	stop := slices.Clone(s)
	start[0], stop[0] = i, i+1
	return metal.Slice(x, start, stop)
}

// SharedExpertMoe is Qwen3-Next's sparse block: the routed experts plus a
// shared expert scaled by sigmoid(shared_expert_gate(x)).
type SharedExpertMoe struct {
	Routed     *SparseMoeBlock
	Shared     *MLP
	SharedGate *layer.Linear
}

// Forward implements FeedForward.
func (m *SharedExpertMoe) Forward(x *metal.Array) *metal.Array {
	y := m.Routed.Forward(x)
	return metal.Add(y, metal.Mul(metal.Sigmoid(m.SharedGate.Forward(x)), m.Shared.Forward(x)))
}

// newQwen3Next builds a Qwen3-Next model.
func newQwen3Next(c *model.Config, w *layer.Weights) (Model, error) {
	return newHybrid(c, w, layoutQwen3Next)
}

// newHybrid builds a Gated DeltaNet hybrid of the given projection layout.
func newHybrid(c *model.Config, w *layer.Weights, layout hybridLayout) (Model, error) {
	a, linear, err := readHybrid(c)
	if err != nil {
		return nil, err
	}
	m := &HybridModel{faIdx: -1, ssmIdx: -1}
	var rope *layer.RoPE
	if slices.Contains(linear, false) {
		dims := int(float64(c.HeadDim) * a.PartialRotaryFactor)
		if rope, err = layer.NewRoPE(dims, false, withTheta(c.RopeFor("full_attention"), 10000), c.MaxPositionEmbeddings); err != nil {
			return nil, c.FieldError("rope_parameters", err.Error())
		}
	}
	m.EmbedTokens = layer.NewEmbedding(w, "model.embed_tokens", c.VocabSize, c.HiddenSize)
	var derived []*metal.Array
	for i := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d", i)
		l := &hybridLayer{
			InputNorm: layer.NewRMSNorm(w, p+".input_layernorm", c.HiddenSize, c.RMSNormEps),
			PostNorm:  layer.NewRMSNorm(w, p+".post_attention_layernorm", c.HiddenSize, c.RMSNormEps),
			MLP:       hybridMLP(w, c, a, p+".mlp", i),
		}
		if linear[i] {
			l.Linear = newGatedDeltaNet(w, c, a, p+".linear_attn", layout)
			if l.Linear.Kernel != nil {
				derived = append(derived, l.Linear.Kernel)
			}
			if m.ssmIdx < 0 {
				m.ssmIdx = i
			}
		} else {
			l.Attn = newGatedAttention(w, c, p+".self_attn", rope)
			if m.faIdx < 0 {
				m.faIdx = i
			}
		}
		m.Layers = append(m.Layers, l)
	}
	m.Norm = layer.NewRMSNorm(w, "model.norm", c.HiddenSize, c.RMSNormEps)
	if !c.Tie(false) {
		m.LMHead = layer.NewLinear(w, "lm_head", c.HiddenSize, c.VocabSize, false)
	}
	if err := w.Err(false); err != nil {
		return nil, fmt.Errorf("load %s weights: %w", c.ModelType, err)
	}
	m.arrays = append(w.Taken(), derived...)
	if rope != nil {
		m.arrays = append(m.arrays, rope.Arrays()...)
	}
	return m, nil
}

// hybridMLP builds layer i's feed-forward: the sparse block with a shared
// expert, or a dense SwiGLU MLP.
func hybridMLP(w *layer.Weights, c *model.Config, a qwen3NextArgs, p string, i int) FeedForward {
	dense := func(p string, width int) *MLP {
		return &MLP{GLU: metal.SwiGLU,
			GateProj: layer.NewLinear(w, p+".gate_proj", c.HiddenSize, width, false),
			UpProj:   layer.NewLinear(w, p+".up_proj", c.HiddenSize, width, false),
			DownProj: layer.NewLinear(w, p+".down_proj", width, c.HiddenSize, false),
		}
	}
	if a.denseLayer(i) {
		return dense(p, c.IntermediateSize)
	}
	moe := &SharedExpertMoe{Routed: &SparseMoeBlock{
		Gate:      layer.NewLinear(w, p+".gate", c.HiddenSize, a.NumExperts, false),
		SwitchMLP: newSwitchGLU(w, p+".switch_mlp", c.HiddenSize, a.MoeIntermediateSize, a.NumExperts),
		TopK:      a.NumExpertsPerTok, NormTopkProb: a.NormTopkProb,
	}}
	if a.SharedExpertIntermediateSize > 0 {
		moe.Shared = dense(p+".shared_expert", a.SharedExpertIntermediateSize)
		moe.SharedGate = layer.NewLinear(w, p+".shared_expert_gate", c.HiddenSize, 1, false)
	}
	if moe.Shared == nil {
		return moe.Routed
	}
	return moe
}

// newGatedAttention builds a full-attention layer.
func newGatedAttention(w *layer.Weights, c *model.Config, p string, rope *layer.RoPE) *GatedAttention {
	hd, nh, nkv := c.HeadDim, c.NumAttentionHeads, c.NumKeyValueHeads
	return &GatedAttention{
		NHeads: nh, NKVHeads: nkv, HeadDim: hd, Scale: 1 / math.Sqrt(float64(hd)), Rope: rope,
		QProj: layer.NewLinear(w, p+".q_proj", c.HiddenSize, 2*nh*hd, c.AttentionBias),
		KProj: layer.NewLinear(w, p+".k_proj", c.HiddenSize, nkv*hd, c.AttentionBias),
		VProj: layer.NewLinear(w, p+".v_proj", c.HiddenSize, nkv*hd, c.AttentionBias),
		OProj: layer.NewLinear(w, p+".o_proj", nh*hd, c.HiddenSize, c.AttentionBias),
		QNorm: layer.NewRMSNorm(w, p+".q_norm", hd, c.RMSNormEps),
		KNorm: layer.NewRMSNorm(w, p+".k_norm", hd, c.RMSNormEps),
	}
}

// newGatedDeltaNet builds a linear-attention layer.
func newGatedDeltaNet(w *layer.Weights, c *model.Config, a qwen3NextArgs, p string, layout hybridLayout) *GatedDeltaNet {
	g := &GatedDeltaNet{layout: layout, NK: a.LinearNumKeyHeads, NV: a.LinearNumValueHeads,
		DK: a.LinearKeyHeadDim, DV: a.LinearValueHeadDim, ConvK: a.LinearConvKernelDim, Eps: c.RMSNormEps}
	kd, vd := g.NK*g.DK, g.NV*g.DV
	h := c.HiddenSize
	if layout == layoutQwen35 {
		g.InQKV = layer.NewLinear(w, p+".in_proj_qkv", h, 2*kd+vd, false)
		g.InZ = layer.NewLinear(w, p+".in_proj_z", h, vd, false)
		g.InB = layer.NewLinear(w, p+".in_proj_b", h, g.NV, false)
		g.InA = layer.NewLinear(w, p+".in_proj_a", h, g.NV, false)
	} else {
		g.InQKVZ = layer.NewLinear(w, p+".in_proj_qkvz", h, 2*kd+2*vd, false)
		g.InBA = layer.NewLinear(w, p+".in_proj_ba", h, 2*g.NV, false)
	}
	g.OutProj = layer.NewLinear(w, p+".out_proj", vd, h, false)
	if k := w.Tensor(p+".conv1d.weight", 2*kd+vd, g.ConvK, 1); k != nil {
		g.Kernel = depthwiseKernel(k, 2*kd+vd, g.ConvK)
	}
	g.ALog = w.Tensor(p+".A_log", g.NV)
	g.DtBias = w.Tensor(p+".dt_bias", g.NV)
	g.NormWeight = w.Tensor(p+".norm.weight", g.DV)
	return g
}

// Forward applies the layer.
func (l *hybridLayer) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array {
	var r *metal.Array
	if l.Linear != nil {
		r = l.Linear.Forward(l.InputNorm.Forward(x), mask, c)
	} else {
		r = l.Attn.Forward(l.InputNorm.Forward(x), mask, c, offsets)
	}
	h := metal.Add(x, r)
	return metal.Add(h, l.MLP.Forward(l.PostNorm.Forward(h)))
}

// Hidden implements Model.
func (m *HybridModel) Hidden(ids *metal.Array, caches []cache.Cache) *metal.Array {
	return mixedHidden(m.EmbedTokens, m.Layers, m.Norm, m.faIdx, m.ssmIdx, m.stage, ids, caches)
}

// carriesState reports a Gated DeltaNet layer.
func (l *hybridLayer) carriesState() bool { return l.Linear != nil }

// Logits implements Model.
func (m *HybridModel) Logits(h *metal.Array) *metal.Array {
	if m.LMHead == nil {
		return m.EmbedTokens.AsLinear(h)
	}
	return m.LMHead.Forward(h)
}

// NewCaches implements Model: full-attention layers get a KV cache
// (hybridCaches), linear layers a state cache (convolution and recurrent
// state).
func (m *HybridModel) NewCaches(opts CacheOptions) ([]cache.Cache, error) {
	attn := make([]int, len(m.Layers))
	for i, l := range m.Layers {
		if l.Attn != nil {
			attn[i] = l.Attn.HeadDim
		}
	}
	caches, err := hybridCaches(opts, attn, 2, "this Gated DeltaNet model")
	return m.stage.caches(caches, opts, err)
}

// Arrays implements Model.
func (m *HybridModel) Arrays() []*metal.Array { return m.arrays }

// NumLayers implements Model.
func (m *HybridModel) NumLayers() int { return len(m.Layers) }

// sanitizeQwen3Next converts a Hugging Face checkpoint to mlx-lm's layout
// (mlx-lm's sanitize): per-expert weights stacked into switch_mlp, the
// multi-token-prediction head dropped, conv1d weights [C, 1, K] → [C, K, 1],
// and the (1 + w) RMSNorm weights of transformers turned into plain ones.
// A checkpoint already in MLX layout (mlx-community) is recognised by its
// conv1d weights and left as it is.
func sanitizeQwen3Next(c *model.Config, weights map[string]*metal.Array) error {
	a, err := readQwen3NextArgs(c)
	if err != nil {
		return err
	}
	dropKeys(weights, "mtp.")
	if c.Tie(false) {
		dropKeys(weights, "lm_head.")
	}
	hf := false
	for name, v := range weights {
		if strings.HasSuffix(name, "conv1d.weight") && v.Ndim() == 3 && v.Dim(2) != 1 {
			hf = true
			weights[name] = metal.Transpose(v, 0, 2, 1)
		}
	}
	if !hf {
		return nil
	}
	for l := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.mlp", l)
		for _, n := range []string{"up_proj", "down_proj", "gate_proj"} {
			if err := stackExperts(weights, p, n, a.NumExperts); err != nil {
				return err
			}
		}
	}
	for name, v := range weights {
		for _, sfx := range []string{".input_layernorm.weight", ".post_attention_layernorm.weight", "model.norm.weight", ".q_norm.weight", ".k_norm.weight"} {
			if strings.HasSuffix(name, sfx) && v.Ndim() == 1 {
				weights[name] = metal.AddScalar(v, 1)
			}
		}
	}
	return nil
}

// quantQwen3Next keeps the router and the shared-expert gate at 8 bits,
// group 64 (mlx-lm's quant_predicate).
func quantQwen3Next(path string) *model.QuantParams {
	if strings.HasSuffix(path, "mlp.gate") || strings.HasSuffix(path, "shared_expert_gate") {
		return &model.QuantParams{GroupSize: 64, Bits: 8, Mode: metal.ModeAffine}
	}
	return nil
}
