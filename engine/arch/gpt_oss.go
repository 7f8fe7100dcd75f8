// Port of mlx_lm/models/gpt_oss.py (OpenAI gpt-oss).
package arch

import (
	"fmt"
	"strings"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newGptOss, Sanitize: sanitizeGptOss, Quant: quantGptOss}, "gpt_oss")
}

// gptOssArgs are gpt-oss's own config fields.
type gptOssArgs struct {
	NumLocalExperts  int      `json:"num_local_experts"`
	NumExpertsPerTok int      `json:"num_experts_per_tok"`
	SlidingWindow    int      `json:"sliding_window"`
	LayerTypes       []string `json:"layer_types"`
	SwigluLimit      *float64 `json:"swiglu_limit"`
	AttentionBias    *bool    `json:"attention_bias"`
}

// gptOssLimit is the clamp of gpt-oss's SwiGLU (config swiglu_limit), the
// one metal.SwiGLUOAI applies (with the sigmoid slope 1.702, which has no
// config field).
const gptOssLimit = 7.0

// readGptOssArgs decodes and validates gpt-oss's fields.
func readGptOssArgs(c *model.Config) (gptOssArgs, error) {
	var a gptOssArgs
	if err := c.Decode(&a); err != nil {
		return a, err
	}
	if a.SwigluLimit == nil {
		limit := gptOssLimit
		a.SwigluLimit = &limit
	}
	if a.LayerTypes == nil { // mlx-lm's and transformers' default: sliding, full, ...
		for i := range c.NumHiddenLayers {
			a.LayerTypes = append(a.LayerTypes, map[bool]string{true: "sliding_attention", false: "full_attention"}[i%2 == 0])
		}
	}
	err := c.RequirePositive(map[string]int{"num_local_experts": a.NumLocalExperts,
		"num_experts_per_tok": a.NumExpertsPerTok})
	switch {
	case err != nil:
	case a.NumExpertsPerTok > a.NumLocalExperts:
		err = c.FieldError("num_experts_per_tok", fmt.Sprintf("%d exceeds num_local_experts %d", a.NumExpertsPerTok, a.NumLocalExperts))
	case len(a.LayerTypes) != c.NumHiddenLayers:
		err = c.FieldError("layer_types", fmt.Sprintf("%d entries for %d layers", len(a.LayerTypes), c.NumHiddenLayers))
	case a.AttentionBias != nil && !*a.AttentionBias:
		err = c.FieldError("attention_bias", "false is not supported (gpt-oss projections have biases)")
	case *a.SwigluLimit != gptOssLimit:
		// transformers and mlx-lm both clamp at 7 whatever the config says:
		// another value has no reference to run against.
		err = c.FieldError("swiglu_limit", fmt.Sprintf("%g is not supported (transformers and mlx-lm use %g)", *a.SwigluLimit, gptOssLimit))
	}
	if err != nil {
		return a, err
	}
	for i, t := range a.LayerTypes {
		switch t {
		case "full_attention":
		case "sliding_attention":
			if a.SlidingWindow <= 0 {
				return a, c.FieldError("sliding_window", fmt.Sprintf("%d must be positive for sliding layer %d", a.SlidingWindow, i))
			}
		default:
			return a, c.FieldError("layer_types", fmt.Sprintf("layer %d: %q (want full_attention or sliding_attention)", i, t))
		}
	}
	return a, nil
}

// SinkAttention is attention with one learned sink logit per query head
// in the softmax denominator (gpt-oss's AttentionBlock).
type SinkAttention struct {
	*Attention
	// Sinks holds the per-head sink logits [num_attention_heads].
	Sinks *metal.Array
}

// Forward attends x [B, L, H] with mask, appending to c (may be nil).
func (a *SinkAttention) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array {
	b, l := x.Dim(0), x.Dim(1)
	q, k, v := a.project(x)
	q = a.heads(q, b, l, a.NHeads, nil)
	k = a.heads(k, b, l, a.NKVHeads, nil)
	v = a.heads(v, b, l, a.NKVHeads, nil)
	q, k = a.Rope.Apply(q, offsets), a.Rope.Apply(k, offsets)
	out := cache.AttentionSinks(c, q, k, v, a.Scale, mask, a.Sinks)
	if l > 1 {
		out = metal.Transpose(out, 0, 2, 1, 3)
	}
	return reduce(a.Reduce, a.OProj.Forward(metal.Reshape(out, b, l, a.NHeads*a.HeadDim)))
}

// BiasedSwitchLinear is a SwitchLinear with a bias per expert [experts, out]
// (mlx-lm's SwitchLinear with bias=True).
type BiasedSwitchLinear struct {
	*layer.SwitchLinear
	Bias *metal.Array
}

// newBiasedSwitchLinear takes prefix.weight [experts, out, in] and prefix.bias.
func newBiasedSwitchLinear(w *layer.Weights, p string, in, out, experts int) *BiasedSwitchLinear {
	return &BiasedSwitchLinear{
		SwitchLinear: layer.NewSwitchLinear(w, p, in, out, experts),
		Bias:         w.Tensor(p+".bias", experts, out),
	}
}

// Forward applies the experts indices selects, then their biases.
func (s *BiasedSwitchLinear) Forward(x, indices *metal.Array, sorted bool) *metal.Array {
	y := s.SwitchLinear.Forward(x, indices, sorted)
	return metal.Add(y, metal.ExpandDims(metal.Take(s.Bias, indices, 0), -2))
}

// GptOssMoE routes each token to its top-k experts, weighted by a softmax
// over the k router logits, through the clamped SwiGLU (MLPBlock).
type GptOssMoE struct {
	Router                     *layer.Linear
	GateProj, UpProj, DownProj *BiasedSwitchLinear
	TopK                       int
	// Reduce, when set, sums the output over a tensor-parallel group (each
	// rank holds part of every expert's width).
	Reduce func(*metal.Array) *metal.Array
}

// Forward implements FeedForward.
func (m *GptOssMoE) Forward(x *metal.Array) *metal.Array {
	g := m.Router.Forward(x)
	e := g.Dim(-1)
	inds := metal.Argpartition(g, e-m.TopK, -1)
	s := inds.Shape()
	if s == nil { // an earlier op failed: the sticky error reports it
		return inds
	}
	start := make([]int, len(s))
	start[len(s)-1] = e - m.TopK
	inds = metal.Slice(inds, start, s)
	weights := metal.Softmax(metal.TakeAlongAxis(g, inds, -1), -1)
	y := m.experts(x, inds)
	return reduce(m.Reduce, metal.Sum(metal.Mul(y, metal.ExpandDims(weights, -1)), []int{-2}, false))
}

// experts is SwitchGLU with biases and SwigluOAI: x [B, L, D], indices
// [B, L, k] → [B, L, k, D].
func (m *GptOssMoE) experts(x, indices *metal.Array) *metal.Array {
	shape := indices.Shape()
	x = metal.ExpandDims(metal.ExpandDims(x, -2), -2)
	sorted := indices.Size() >= sortThreshold
	idx := indices
	var inv *metal.Array
	if sorted {
		x, idx, inv = gatherSort(x, indices)
	}
	up := m.UpProj.Forward(x, idx, sorted)
	gate := m.GateProj.Forward(x, idx, sorted)
	y := m.DownProj.Forward(metal.SwiGLUOAI(gate, up), idx, sorted)
	if sorted {
		y = metal.Take(y, inv, 0)
		y = metal.Reshape(y, append(shape, y.Dim(-2), y.Dim(-1))...)
	}
	return metal.Squeeze(y, -2)
}

// GptOss is the gpt-oss model: a Decoder (embedding, norms, head, caches and
// masks, its blocks holding the layout) whose layers attend with sinks.
type GptOss struct {
	*Decoder
	Attn []*SinkAttention
}

// Hidden implements Model.
func (m *GptOss) Hidden(ids *metal.Array, caches []cache.Cache) *metal.Array {
	d := m.Decoder
	h := d.stage.enter(d.embed(ids))
	offsets := d.offsets(ids.Dim(0), caches)
	masks := map[bool]cache.Mask{}
	for i, blk := range d.Layers {
		c := layerCache(caches, i)
		if !d.stage.owns(i) {
			d.stage.skip(c, ids.Dim(1))
			continue
		}
		mask, ok := masks[blk.Sliding]
		if !ok {
			mask = d.mask(ids.Dim(1), blk.Sliding, c)
			masks[blk.Sliding] = mask
		}
		h = metal.Add(h, m.Attn[i].Forward(blk.InputLayernorm.Forward(h), mask, c, offsets))
		h = metal.Add(h, blk.MLP.Forward(blk.PostAttentionLayernorm.Forward(h)))
	}
	return d.Norm.Forward(d.stage.leave(h))
}

// newGptOss builds a gpt-oss model.
func newGptOss(c *model.Config, w *layer.Weights) (Model, error) {
	a, err := readGptOssArgs(c)
	if err != nil {
		return nil, err
	}
	if err := requireGptOss(c); err != nil {
		return nil, err
	}
	s := spec{cfg: c, qkvBias: true, oBias: true, window: a.SlidingWindow, tie: false}
	s.sliding = make([]bool, c.NumHiddenLayers)
	for i, t := range a.LayerTypes {
		s.sliding[i] = t == "sliding_attention"
	}
	s.rope = func(bool) model.Rope { return withTheta(c.RopeFor(""), 150000) }
	s.ffn = func(w *layer.Weights, p string, _ int) FeedForward {
		ex := p + ".experts"
		hd, in, n := c.HiddenSize, c.IntermediateSize, a.NumLocalExperts
		return &GptOssMoE{
			Router:   layer.NewLinear(w, p+".router", hd, n, true),
			GateProj: newBiasedSwitchLinear(w, ex+".gate_proj", hd, in, n),
			UpProj:   newBiasedSwitchLinear(w, ex+".up_proj", hd, in, n),
			DownProj: newBiasedSwitchLinear(w, ex+".down_proj", in, hd, n),
			TopK:     a.NumExpertsPerTok,
		}
	}
	d, err := build(w, s)
	if err != nil {
		return nil, err
	}
	m := &GptOss{Decoder: d}
	for i, blk := range d.Layers {
		sinks := w.Tensor(fmt.Sprintf("model.layers.%d.self_attn.sinks", i), c.NumAttentionHeads)
		m.Attn = append(m.Attn, &SinkAttention{Attention: blk.SelfAttn, Sinks: sinks})
		d.arrays = append(d.arrays, sinks)
	}
	if err := w.Err(false); err != nil {
		return nil, fmt.Errorf("load %s weights: %w", c.ModelType, err)
	}
	return m, nil
}

// requireGptOss validates the common fields; gpt-oss has no dense MLP, so
// intermediate_size is the experts' width.
func requireGptOss(c *model.Config) error {
	if err := requireCommon(c); err != nil {
		return err
	}
	if err := checkHeads(c); err != nil {
		return err
	}
	if c.Tie(false) {
		return c.FieldError("tie_word_embeddings", "true is not supported (gpt-oss has its own lm_head)")
	}
	return nil
}

// sanitizeGptOss rewrites a checkpoint into mlx-lm's layout (Model.sanitize):
// the fused, interleaved experts.gate_up_proj (gate in the even rows, up in
// the odd) becomes experts.{gate,up}_proj and down_proj gets its ".weight"
// name; the biases follow. Two source layouts exist: transformers' float
// parameters, gate_up_proj [E, hidden, 2·I] and down_proj [E, I, hidden]
// (x @ W, so transposed here to [E, out, in]), and OpenAI's MXFP4 blocks,
// *_blocks uint8 [E, out, in/32, 16] with *_scales [E, out, in/32], whose
// bytes are the packed uint32 words of MLX's mxfp4 mode (config.json's
// quantization_config says quant_method mxfp4). Folders mlx-lm already
// sanitized (experts.gate_proj.weight) pass unchanged.
func sanitizeGptOss(c *model.Config, weights map[string]*metal.Array) error {
	for k := range weights {
		if strings.Contains(k, "experts.gate_proj.weight") {
			return nil // already sanitized
		}
	}
	a, err := readGptOssArgs(c)
	if err != nil {
		return err
	}
	e, hd, in := a.NumLocalExperts, c.HiddenSize, c.IntermediateSize
	for l := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.mlp.experts.", l)
		if err := sanitizeGptOssExperts(weights, p, e, hd, in); err != nil {
			return err
		}
		if b, ok := weights[p+"gate_up_proj_bias"]; ok {
			if !sameShape(b.Shape(), e, 2*in) {
				return fmt.Errorf("%s: shape %v, want [%d %d]", p+"gate_up_proj_bias", b.Shape(), e, 2*in)
			}
			weights[p+"gate_proj.bias"], weights[p+"up_proj.bias"] = deinterleave(b, 1)
			delete(weights, p+"gate_up_proj_bias")
		}
		if b, ok := weights[p+"down_proj_bias"]; ok {
			weights[p+"down_proj.bias"] = b
			delete(weights, p+"down_proj_bias")
		}
	}
	return nil
}

// sanitizeGptOssExperts renames and splits one layer's expert weights (p is
// "model.layers.N.mlp.experts."), float or MXFP4 blocks.
func sanitizeGptOssExperts(weights map[string]*metal.Array, p string, e, hd, in int) error {
	if gu, ok := weights[p+"gate_up_proj"]; ok {
		if !sameShape(gu.Shape(), e, hd, 2*in) {
			return fmt.Errorf("%s: shape %v, want [%d %d %d]", p+"gate_up_proj", gu.Shape(), e, hd, 2*in)
		}
		weights[p+"gate_proj.weight"], weights[p+"up_proj.weight"] = deinterleave(metal.Swapaxes(gu, -1, -2), 1)
		delete(weights, p+"gate_up_proj")
	}
	if d, ok := weights[p+"down_proj"]; ok {
		if !sameShape(d.Shape(), e, in, hd) {
			return fmt.Errorf("%s: shape %v, want [%d %d %d]", p+"down_proj", d.Shape(), e, in, hd)
		}
		weights[p+"down_proj.weight"] = metal.Contiguous(metal.Swapaxes(d, -1, -2))
		delete(weights, p+"down_proj")
	}
	for _, t := range []struct {
		name        string
		rows, cols  int
		interleaved bool
	}{{"gate_up_proj", 2 * in, hd, true}, {"down_proj", hd, in, false}} {
		blocks, okb := weights[p+t.name+"_blocks"]
		scales, oks := weights[p+t.name+"_scales"]
		if !okb && !oks {
			continue
		}
		groups := t.cols / 32
		if !okb || !oks || t.cols%32 != 0 || !sameShape(blocks.Shape(), e, t.rows, groups, 16) || !sameShape(scales.Shape(), e, t.rows, groups) ||
			blocks.Dtype() != metal.Uint8 || scales.Dtype() != metal.Uint8 {
			return fmt.Errorf("%s: MXFP4 blocks %v %v and scales %v %v, want uint8 [%d %d %d 16] and [%d %d %d]",
				p+t.name, blocks.Dtype(), blocks.Shape(), scales.Dtype(), scales.Shape(), e, t.rows, groups, e, t.rows, groups)
		}
		w := packWords(blocks) // [E, rows, cols/8] uint32
		delete(weights, p+t.name+"_blocks")
		delete(weights, p+t.name+"_scales")
		if t.interleaved {
			weights[p+"gate_proj.weight"], weights[p+"up_proj.weight"] = deinterleave(w, 1)
			weights[p+"gate_proj.scales"], weights[p+"up_proj.scales"] = deinterleave(scales, 1)
		} else {
			weights[p+"down_proj.weight"], weights[p+"down_proj.scales"] = w, scales
		}
	}
	return nil
}

// packWords reads uint8 blocks [..., G, 16] as the little-endian uint32 words
// they hold, [..., G·4] (mlx-lm's view(uint32).flatten(-2)), with integer ops.
func packWords(blocks *metal.Array) *metal.Array {
	s := blocks.Shape()
	if s == nil {
		return blocks
	}
	n := len(s)
	words := append(append([]int{}, s[:n-2]...), s[n-2]*4, 4)
	b := metal.Reshape(metal.Astype(blocks, metal.Uint32), words...)
	place := metal.FromUint32([]uint32{1, 1 << 8, 1 << 16, 1 << 24}, 4)
	return metal.Sum(metal.Mul(b, place), []int{-1}, false)
}

// deinterleave splits a along axis (counted from the front) into its even
// and odd entries, each made contiguous.
func deinterleave(a *metal.Array, axis int) (even, odd *metal.Array) {
	s := a.Shape()
	if s == nil {
		return a, a
	}
	start, strides := make([]int, len(s)), make([]int, len(s))
	for i := range strides {
		strides[i] = 1
	}
	strides[axis] = 2
	even = metal.Contiguous(metal.SliceStrided(a, start, s, strides))
	start[axis] = 1
	odd = metal.Contiguous(metal.SliceStrided(a, start, s, strides))
	return even, odd
}

// sameShape reports whether s is exactly dims.
func sameShape(s []int, dims ...int) bool {
	if len(s) != len(dims) {
		return false
	}
	for i := range s {
		if s[i] != dims[i] {
			return false
		}
	}
	return true
}

// quantGptOss keeps the router at 8 bits, group 64 (mlx-lm's gpt-oss
// quant_predicate).
func quantGptOss(path string) *model.QuantParams {
	if strings.HasSuffix(path, "router") {
		return &model.QuantParams{GroupSize: 64, Bits: 8, Mode: metal.ModeAffine}
	}
	return nil
}
