// Port of mlx_lm/models/gemma4_text.py (checked against transformers'
// Gemma4ForCausalLM).
package arch

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newGemma4Text, Sanitize: sanitizeGemma4Text, Quant: quantGemma4}, "gemma4_text")
}

// gemma4Defaults are mlx-lm's gemma4_text ModelArgs defaults for the shared
// fields.
var gemma4Defaults = map[string]any{
	"hidden_size": 1536, "num_hidden_layers": 35, "intermediate_size": 6144,
	"num_attention_heads": 8, "head_dim": 256, "rms_norm_eps": 1e-6,
	"vocab_size": 262144, "num_key_value_heads": 1, "sliding_window": 512,
	"max_position_embeddings": 131072,
}

// gemma4LayerConfig is one entry of transformers' per_layer_config (5.15+),
// which replaces the flat global_head_dim / num_global_key_value_heads.
type gemma4LayerConfig struct {
	HeadDim           *int `json:"head_dim"`
	NumAttentionHeads *int `json:"num_attention_heads"`
	NumKeyValueHeads  *int `json:"num_key_value_heads"`
}

// gemma4Args are the Gemma 4 fields beyond the shared config; pointers are
// nil when config.json does not set them (mlx-lm's defaults then apply).
type gemma4Args struct {
	GlobalHeadDim             *int                         `json:"global_head_dim"`
	NumGlobalKeyValueHeads    *int                         `json:"num_global_key_value_heads"`
	NumKVSharedLayers         *int                         `json:"num_kv_shared_layers"`
	HiddenSizePerLayerInput   *int                         `json:"hidden_size_per_layer_input"`
	VocabSizePerLayerInput    *int                         `json:"vocab_size_per_layer_input"`
	SlidingWindowPattern      *int                         `json:"sliding_window_pattern"`
	AttentionKEqV             bool                         `json:"attention_k_eq_v"`
	FinalLogitSoftcapping     *float64                     `json:"final_logit_softcapping"`
	UseDoubleWideMLP          *bool                        `json:"use_double_wide_mlp"`
	EnableMoEBlock            bool                         `json:"enable_moe_block"`
	NumExperts                *int                         `json:"num_experts"`
	TopKExperts               *int                         `json:"top_k_experts"`
	MoEIntermediateSize       *int                         `json:"moe_intermediate_size"`
	HiddenActivation          string                       `json:"hidden_activation"`
	UseBidirectionalAttention *string                      `json:"use_bidirectional_attention"`
	PerLayerConfig            map[string]gemma4LayerConfig `json:"per_layer_config"`
}

// gemma4Geometry is one layer's attention shape and role.
type gemma4Geometry struct {
	sliding          bool
	nHeads, nKVHeads int
	headDim          int
	kEqV             bool
	// source is the layer whose keys and values this one reuses (itself
	// when it computes its own).
	source int
	// mlp is the dense MLP's width (doubled on KV-shared layers).
	mlp int
}

// gemma4Plan is the resolved configuration of a Gemma 4 text model.
type gemma4Plan struct {
	layers    []gemma4Geometry
	window    int
	perLayer  int // hidden_size_per_layer_input (0: none)
	perVocab  int
	softcap   float64 // 0: none
	experts   int
	topK      int
	moeHidden int
	rope      map[string]model.Rope
}

// readGemma4 resolves the layer geometry, K/V sharing and options, refusing
// what the port does not implement.
func readGemma4(c *model.Config) (*gemma4Plan, error) {
	if err := requireCommon(c); err != nil {
		return nil, err
	}
	var a gemma4Args
	if err := c.Decode(&a); err != nil {
		return nil, err
	}
	if c.AttentionBias {
		return nil, c.FieldError("attention_bias", "biases on the attention projections are not supported (mlx-lm has none)")
	}
	if act := a.HiddenActivation; act != "" && act != "gelu_pytorch_tanh" {
		return nil, c.FieldError("hidden_activation", fmt.Sprintf("%q is not supported (want gelu_pytorch_tanh)", act))
	}
	if b := a.UseBidirectionalAttention; b != nil && *b == "all" {
		return nil, c.FieldError("use_bidirectional_attention", `"all" (a bidirectional text model) is not supported`)
	}
	n := c.NumHiddenLayers
	types, err := gemma4LayerTypes(c, a)
	if err != nil {
		return nil, err
	}
	p := &gemma4Plan{window: c.SlidingWindow, perLayer: intOr(a.HiddenSizePerLayerInput, 256),
		perVocab: intOr(a.VocabSizePerLayerInput, 262144)}
	if !c.Has("final_logit_softcapping") {
		p.softcap = 30
	} else if a.FinalLogitSoftcapping != nil {
		p.softcap = *a.FinalLogitSoftcapping
		if p.softcap <= 0 {
			return nil, c.FieldError("final_logit_softcapping", "must be positive or null")
		}
	}
	if p.perLayer < 0 || (p.perLayer > 0 && p.perVocab <= 0) {
		return nil, c.FieldError("hidden_size_per_layer_input", "needs a positive width and vocab_size_per_layer_input")
	}
	if a.EnableMoEBlock {
		p.experts, p.topK, p.moeHidden = intOr(a.NumExperts, 0), intOr(a.TopKExperts, 0), intOr(a.MoEIntermediateSize, 0)
		if p.experts <= 0 || p.topK <= 0 || p.moeHidden <= 0 || p.topK > p.experts {
			return nil, c.FieldError("enable_moe_block", "needs positive num_experts, top_k_experts <= num_experts and moe_intermediate_size")
		}
	}
	shared := intOr(a.NumKVSharedLayers, 20)
	if shared < 0 || shared >= n {
		return nil, c.FieldError("num_kv_shared_layers", fmt.Sprintf("%d must be in [0, %d)", shared, n))
	}
	first := n - shared
	lastOf := map[string]int{}
	doubleWide := a.UseDoubleWideMLP == nil || *a.UseDoubleWideMLP
	for i, t := range types {
		g, err := gemma4LayerGeometry(c, a, i, t)
		if err != nil {
			return nil, err
		}
		g.source = i
		if i < first {
			lastOf[t] = i
		} else {
			src, ok := lastOf[t]
			if !ok {
				return nil, c.FieldError("num_kv_shared_layers", fmt.Sprintf("layer %d (%s) shares K/V but no earlier layer has that type", i, t))
			}
			sg := p.layers[src]
			if sg.headDim != g.headDim || sg.nKVHeads != g.nKVHeads {
				return nil, c.FieldError("per_layer_config", fmt.Sprintf("layer %d shares layer %d's K/V but has another shape", i, src))
			}
			g.source = src
		}
		g.mlp = c.IntermediateSize
		if doubleWide && i >= first && first > 0 {
			g.mlp *= 2
		}
		if g.sliding && p.window <= 0 {
			return nil, c.FieldError("sliding_window", "must be positive")
		}
		p.layers = append(p.layers, g)
	}
	p.rope, err = gemma4Rope(c)
	return p, err
}

// gemma4LayerTypes returns layer_types, or mlx-lm's pattern of
// sliding_window_pattern - 1 sliding layers then a full one.
func gemma4LayerTypes(c *model.Config, a gemma4Args) ([]string, error) {
	n := c.NumHiddenLayers
	if len(c.LayerTypes) > 0 {
		if len(c.LayerTypes) != n {
			return nil, c.FieldError("layer_types", fmt.Sprintf("has %d entries for %d layers", len(c.LayerTypes), n))
		}
		for _, t := range c.LayerTypes {
			if t != "sliding_attention" && t != "full_attention" {
				return nil, c.FieldError("layer_types", fmt.Sprintf("unsupported layer type %q", t))
			}
		}
		return c.LayerTypes, nil
	}
	pattern := intOr(a.SlidingWindowPattern, 5)
	if pattern <= 0 {
		return nil, c.FieldError("sliding_window_pattern", "must be positive")
	}
	types := make([]string, n)
	for i := range types {
		types[i] = "sliding_attention"
		if (i+1)%pattern == 0 {
			types[i] = "full_attention"
		}
	}
	return types, nil
}

// gemma4LayerGeometry is layer i's heads and head dim: full layers take
// global_head_dim (mlx-lm's default 512) and, with k = v attention,
// num_global_key_value_heads; per_layer_config (transformers 5.15+) sets
// them per layer and must agree with the flat fields where both are given.
func gemma4LayerGeometry(c *model.Config, a gemma4Args, i int, t string) (gemma4Geometry, error) {
	g := gemma4Geometry{sliding: t == "sliding_attention", nHeads: c.NumAttentionHeads,
		nKVHeads: c.NumKeyValueHeads, headDim: c.HeadDim}
	g.kEqV = a.AttentionKEqV && !g.sliding
	pl, hasPL := a.PerLayerConfig[strconv.Itoa(i)]
	if !g.sliding {
		if a.GlobalHeadDim != nil && *a.GlobalHeadDim > 0 {
			g.headDim = *a.GlobalHeadDim
		} else if a.GlobalHeadDim == nil && (!hasPL || pl.HeadDim == nil) {
			g.headDim = 512
		}
		if g.kEqV && a.NumGlobalKeyValueHeads != nil {
			g.nKVHeads = *a.NumGlobalKeyValueHeads
		}
	}
	field := "per_layer_config." + strconv.Itoa(i)
	override := func(dst *int, v *int, name string, flat bool) error {
		if v == nil {
			return nil
		}
		if flat && *dst != *v {
			return c.FieldError(field, fmt.Sprintf("%s %d disagrees with the flat config's %d", name, *v, *dst))
		}
		*dst = *v
		return nil
	}
	if hasPL {
		if err := override(&g.headDim, pl.HeadDim, "head_dim", !g.sliding && a.GlobalHeadDim != nil); err != nil {
			return g, err
		}
		if err := override(&g.nKVHeads, pl.NumKeyValueHeads, "num_key_value_heads", g.kEqV && a.NumGlobalKeyValueHeads != nil); err != nil {
			return g, err
		}
		if err := override(&g.nHeads, pl.NumAttentionHeads, "num_attention_heads", false); err != nil {
			return g, err
		}
	}
	if g.headDim <= 0 || g.nHeads <= 0 || g.nKVHeads <= 0 || g.nHeads%g.nKVHeads != 0 {
		return g, c.FieldError(field, fmt.Sprintf("layer %d: %d heads over %d KV heads of dim %d", i, g.nHeads, g.nKVHeads, g.headDim))
	}
	return g, nil
}

// gemma4Rope returns the rope settings per layer type: rope_parameters, or
// mlx-lm's defaults (full layers proportional over a quarter, base 1e6;
// sliding layers default, base 1e4).
func gemma4Rope(c *model.Config) (map[string]model.Rope, error) {
	out := map[string]model.Rope{
		"full_attention":    {Type: "proportional", Theta: 1e6, PartialRotaryFactor: 0.25},
		"sliding_attention": {Type: "default", Theta: 1e4, PartialRotaryFactor: 1},
	}
	if !c.Has("rope_parameters") {
		return out, nil
	}
	for t := range out {
		r, ok := c.Rope[t]
		if !ok {
			r, ok = c.Rope[""]
		}
		if !ok {
			return nil, c.FieldError("rope_parameters", "no settings for "+t)
		}
		out[t] = withTheta(r, 1e4)
	}
	return out, nil
}

// newGemma4Rope builds the rope of a layer of head dim dims: mlx-lm's
// initialize_rope over the whole head (default and the other types ignore
// partial_rotary_factor, as transformers' Gemma 4 does), and the
// proportional type, which rotates the first partial_rotary_factor of the
// head at frequencies of the full head dim and leaves the rest in place.
func newGemma4Rope(c *model.Config, r model.Rope, dims int) (*layer.RoPE, error) {
	if r.Type != "proportional" {
		rp, err := layer.NewRoPE(dims, c.RopeTraditional, r, c.MaxPositionEmbeddings)
		if err != nil {
			return nil, c.FieldError("rope_parameters", err.Error())
		}
		return rp, nil
	}
	rotated := int(float64(dims) * r.PartialRotaryFactor)
	if rotated <= 0 || rotated > dims {
		return nil, c.FieldError("rope_parameters", fmt.Sprintf("proportional rope: partial_rotary_factor %g of head dim %d", r.PartialRotaryFactor, dims))
	}
	factor := r.Factor
	if factor == 0 {
		factor = 1
	}
	var freqs []float32
	for i := 0; i < rotated; i += 2 {
		freqs = append(freqs, float32(factor*math.Pow(r.Theta, float64(i)/float64(dims))))
	}
	for range (dims - rotated) / 2 {
		freqs = append(freqs, float32(math.Inf(1)))
	}
	return &layer.RoPE{Dims: dims, Traditional: c.RopeTraditional, Base: r.Theta, Scale: 1, PreScale: 1,
		Freqs: metal.FromFloat32(freqs, len(freqs))}, nil
}

// intOr returns *p, or def when p is nil.
func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// Gemma4Attention is Gemma 4's attention: per-head RMSNorms of queries and
// keys, a scale-free RMSNorm of values, scale 1, values equal to the keys'
// projection on k = v layers, and on KV-shared layers the keys and values
// of an earlier layer (no projections of their own).
type Gemma4Attention struct {
	QProj, KProj, VProj, OProj *layer.Linear
	QNorm, KNorm               *layer.RMSNorm
	// VNorm is the values' RMSNorm without a scale.
	VNorm                     *layer.RMSNorm
	NHeads, NKVHeads, HeadDim int
	Rope                      *layer.RoPE
}

// gemma4KV is a layer's new keys and values [B, kv_heads, L, D], normed and
// roped, before any cache: what the layers sharing them attend over when the
// model runs without caches.
type gemma4KV struct{ k, v *metal.Array }

// Forward attends x [B, L, H]. shared is set on a KV-shared layer: with a
// cache (a *cache.Shared, or a Rows of them) the layer attends over its
// source's cache, which the source has updated earlier in this step;
// without, over shared, the source's keys and values. It returns the
// output and the keys and values used.
func (a *Gemma4Attention) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array, shared *gemma4KV) (*metal.Array, *gemma4KV) {
	b, l := x.Dim(0), x.Dim(1)
	q := a.heads(a.QProj.Forward(x), b, l, a.NHeads, a.QNorm)
	q = a.Rope.Apply(q, offsets)
	kv := shared
	var out *metal.Array
	switch {
	case kv == nil:
		kv = a.keysValues(x, b, l, offsets)
		out = cache.Attention(c, q, kv.k, kv.v, 1, mask)
	case c != nil:
		out = cache.Attention(c, q, nil, nil, 1, mask)
	default:
		out = cache.Attention(nil, q, kv.k, kv.v, 1, mask)
	}
	if l > 1 {
		out = metal.Transpose(out, 0, 2, 1, 3)
	}
	return a.OProj.Forward(metal.Reshape(out, b, l, a.NHeads*a.HeadDim)), kv
}

// keysValues projects the layer's own new keys and values (values equal
// to the keys' projection on k = v layers).
func (a *Gemma4Attention) keysValues(x *metal.Array, b, l int, offsets *metal.Array) *gemma4KV {
	kRaw := a.KProj.Forward(x)
	vRaw := kRaw
	if a.VProj != nil {
		vRaw = a.VProj.Forward(x)
	}
	k := a.Rope.Apply(a.heads(kRaw, b, l, a.NKVHeads, a.KNorm), offsets)
	v := a.heads(vRaw, b, l, a.NKVHeads, a.VNorm)
	return &gemma4KV{k: k, v: v}
}

// heads reshapes [B, L, n·D] to [B, n, L, D] with each head normalized.
func (a *Gemma4Attention) heads(x *metal.Array, b, l, n int, norm *layer.RMSNorm) *metal.Array {
	x = maybeNorm(norm, metal.Reshape(x, b, l, n, a.HeadDim))
	if l == 1 {
		return metal.Reshape(x, b, n, 1, a.HeadDim)
	}
	return metal.Transpose(x, 0, 2, 1, 3)
}

// Gemma4Router picks each token's experts: an RMSNorm scaled by
// scale / √hidden, a projection, the top k scores softmaxed among
// themselves and multiplied by each chosen expert's own scale.
type Gemma4Router struct {
	Proj           *layer.Linear
	NormWeight     *metal.Array // scale · hidden^-0.5, formed at load
	PerExpertScale *metal.Array
	TopK           int
	Eps            float64
}

// Route returns the experts [.., k] (int32) and their weights [.., k].
func (r *Gemma4Router) Route(x *metal.Array) (inds, weights *metal.Array) {
	scores := r.Proj.Forward(metal.RMSNorm(x, r.NormWeight, r.Eps))
	e := scores.Dim(-1)
	inds = metal.Argpartition(scores, e-r.TopK, -1)
	s := inds.Shape()
	if s == nil { // an earlier op failed: the sticky error reports it
		return inds, inds
	}
	start := make([]int, len(s))
	start[len(s)-1] = e - r.TopK
	inds = metal.Slice(inds, start, s)
	weights = metal.Softmax(metal.TakeAlongAxis(scores, inds, -1), -1)
	return inds, metal.Mul(weights, metal.Take(r.PerExpertScale, inds, 0))
}

// Gemma4Layer is one decoder layer: Gemma's sandwich norms around attention
// and the feed-forward (a dense GeGLU MLP, plus a mixture of experts beside
// it when enabled), the per-layer input gate, and a learned layer scalar.
type Gemma4Layer struct {
	SelfAttn                                          *Gemma4Attention
	MLP                                               *MLP
	InputLayernorm, PostAttentionLayernorm            *layer.RMSNorm
	PreFeedforwardLayernorm, PostFeedforwardLayernorm *layer.RMSNorm
	// MoE (nil without enable_moe_block).
	Router                                               *Gemma4Router
	Experts                                              *SwitchGLU
	PostFeedforwardLayernorm1, PostFeedforwardLayernorm2 *layer.RMSNorm
	PreFeedforwardLayernorm2                             *layer.RMSNorm
	// Per-layer input gate (nil without per-layer inputs).
	PerLayerInputGate, PerLayerProjection *layer.Linear
	PostPerLayerInputNorm                 *layer.RMSNorm
	LayerScalar                           *metal.Array
	Sliding                               bool
	// Source is the layer whose keys and values this one reuses (itself
	// when it projects its own).
	Source int
}

// Forward applies the layer; perLayer is its per-layer input [B, L, P]
// (nil: none) and shared the source layer's keys and values on a KV-shared
// layer.
func (g *Gemma4Layer) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets, perLayer *metal.Array, shared *gemma4KV) (*metal.Array, *gemma4KV) {
	r, kv := g.SelfAttn.Forward(g.InputLayernorm.Forward(x), mask, c, offsets, shared)
	h := metal.Add(x, g.PostAttentionLayernorm.Forward(r))
	f := g.MLP.Forward(g.PreFeedforwardLayernorm.Forward(h))
	if g.Router != nil {
		f = g.PostFeedforwardLayernorm1.Forward(f)
		inds, weights := g.Router.Route(h)
		y := g.Experts.Forward(g.PreFeedforwardLayernorm2.Forward(h), inds)
		y = metal.Sum(metal.Mul(y, metal.ExpandDims(weights, -1)), []int{-2}, false)
		f = metal.Add(f, g.PostFeedforwardLayernorm2.Forward(y))
	}
	h = metal.Add(h, g.PostFeedforwardLayernorm.Forward(f))
	if g.PerLayerInputGate != nil {
		gate := metal.GeGLU(g.PerLayerInputGate.Forward(h), perLayer)
		h = metal.Add(h, g.PostPerLayerInputNorm.Forward(g.PerLayerProjection.Forward(gate)))
	}
	return metal.Mul(h, g.LayerScalar), kv
}

// Gemma4Text is the Gemma 4 text model. Its Decoder holds the embedding,
// final norm, head, masks and caches (one Block per layer, for the cache
// layout only); Layers run the forward. A KV-shared layer's cache is a
// cache.Shared over its source layer's: it holds no keys and values (as in
// mlx-lm, where it has none), yet the scheduler, the prefix and disk caches
// and batching still see one cache per layer, which trims, saves and
// restores as nothing.
type Gemma4Text struct {
	*Decoder
	Layers []*Gemma4Layer
	// Per-layer inputs (nil without them).
	EmbedTokensPerLayer     *layer.Embedding
	PerLayerModelProjection *layer.Linear
	PerLayerProjectionNorm  *layer.RMSNorm
	PerLayer                int
	Softcap                 float64
}

// Hidden implements Model.
func (m *Gemma4Text) Hidden(ids *metal.Array, caches []cache.Cache) *metal.Array {
	d := m.Decoder
	h := d.embed(ids)
	offsets := d.offsets(ids.Dim(0), caches)
	perLayer := m.perLayerInputs(ids, h)
	h = d.stage.enter(h)
	masks := map[bool]cache.Mask{}
	kvs := make([]*gemma4KV, len(m.Layers))
	for i, g := range m.Layers {
		c := layerCache(caches, i)
		if !d.stage.owns(i) {
			d.stage.skip(c, ids.Dim(1))
			continue
		}
		mask, ok := masks[g.Sliding]
		if !ok {
			mask = d.mask(ids.Dim(1), g.Sliding, c)
			masks[g.Sliding] = mask
		}
		var pl *metal.Array
		if perLayer != nil {
			pl = m.layerInput(perLayer, i)
		}
		var src *gemma4KV
		if g.Source != i {
			src = kvs[g.Source]
		}
		h, kvs[i] = g.Forward(h, mask, c, offsets, pl, src)
	}
	return d.Norm.Forward(d.stage.leave(h))
}

// NewCaches implements Model: the Decoder's caches, except that each
// KV-shared layer the process runs gets a cache.Shared reading its source
// layer's cache (a pipeline keeps the two on one rank).
func (m *Gemma4Text) NewCaches(opts CacheOptions) ([]cache.Cache, error) {
	caches, err := m.Decoder.NewCaches(opts)
	if err != nil {
		return nil, err
	}
	for i, g := range m.Layers {
		if g.Source == i || !m.stage.owns(i) {
			continue
		}
		sh, err := cache.NewShared(caches[g.Source])
		if err != nil {
			for _, c := range caches {
				c.Free()
			}
			return nil, fmt.Errorf("%w: layer %d: %v", ErrCacheOptions, i, err)
		}
		caches[i].Free()
		caches[i] = sh
	}
	return caches, nil
}

// perLayerInputs returns the per-layer inputs [B, L, layers, P]: the
// per-layer embedding (scaled by √P) and the projection of the scaled
// embeddings h (by hidden^-0.5, normed), summed and scaled by 2^-0.5.
func (m *Gemma4Text) perLayerInputs(ids, h *metal.Array) *metal.Array {
	if m.EmbedTokensPerLayer == nil {
		return nil
	}
	b, l, n := ids.Dim(0), ids.Dim(1), len(m.Layers)
	emb := m.EmbedTokensPerLayer.Forward(ids)
	emb = metal.Mul(emb, metal.Scalar(gemma3EmbedScale(m.PerLayer), emb.Dtype()))
	emb = metal.Reshape(emb, b, l, n, m.PerLayer)
	proj := m.PerLayerModelProjection.Forward(h)
	proj = metal.Mul(proj, metal.Scalar(1/math.Sqrt(float64(h.Dim(-1))), proj.Dtype()))
	proj = m.PerLayerProjectionNorm.Forward(metal.Reshape(proj, b, l, n, m.PerLayer))
	sum := metal.Add(proj, emb)
	return metal.Mul(sum, metal.Scalar(math.Sqrt(0.5), sum.Dtype()))
}

// layerInput returns layer i's per-layer input [B, L, P].
func (m *Gemma4Text) layerInput(perLayer *metal.Array, i int) *metal.Array {
	s := perLayer.Shape()
	x := metal.Slice(perLayer, []int{0, 0, i, 0}, []int{s[0], s[1], i + 1, s[3]})
	return metal.Reshape(x, s[0], s[1], s[3])
}

// Logits implements Model: the head, then tanh soft-capping.
func (m *Gemma4Text) Logits(h *metal.Array) *metal.Array {
	out := m.Decoder.Logits(h)
	if m.Softcap == 0 {
		return out
	}
	out = metal.Tanh(metal.Div(out, metal.Scalar(m.Softcap, out.Dtype())))
	return metal.Mul(out, metal.Scalar(m.Softcap, out.Dtype()))
}

// newGemma4Text builds a Gemma 4 text model.
func newGemma4Text(raw *model.Config, w *layer.Weights) (Model, error) {
	c, err := raw.WithDefaults(gemma4Defaults)
	if err != nil {
		return nil, err
	}
	p, err := readGemma4(c)
	if err != nil {
		return nil, err
	}
	hid, eps := c.HiddenSize, c.RMSNormEps
	norm := func(name string, dim int) *layer.RMSNorm { return layer.NewRMSNorm(w, name, dim, eps) }
	d := &Decoder{SlidingWindow: p.window, EmbedScale: gemma3EmbedScale(hid)}
	d.EmbedTokens = layer.NewEmbedding(w, "model.embed_tokens", c.VocabSize, hid)
	m := &Gemma4Text{Decoder: d, PerLayer: p.perLayer, Softcap: p.softcap}
	var extra []*metal.Array
	ropes := map[string]*layer.RoPE{}
	for i, g := range p.layers {
		t := "full_attention"
		if g.sliding {
			t = "sliding_attention"
		}
		key := fmt.Sprintf("%s/%d", t, g.headDim)
		if ropes[key] == nil {
			r, err := newGemma4Rope(c, p.rope[t], g.headDim)
			if err != nil {
				return nil, err
			}
			ropes[key] = r
			extra = append(extra, r.Arrays()...)
		}
		pre := fmt.Sprintf("model.layers.%d", i)
		at := pre + ".self_attn"
		a := &Gemma4Attention{NHeads: g.nHeads, NKVHeads: g.nKVHeads, HeadDim: g.headDim, Rope: ropes[key],
			QProj: layer.NewLinear(w, at+".q_proj", hid, g.nHeads*g.headDim, false),
			OProj: layer.NewLinear(w, at+".o_proj", g.nHeads*g.headDim, hid, false),
			QNorm: norm(at+".q_norm", g.headDim)}
		if g.source == i {
			a.KProj = layer.NewLinear(w, at+".k_proj", hid, g.nKVHeads*g.headDim, false)
			if !g.kEqV {
				a.VProj = layer.NewLinear(w, at+".v_proj", hid, g.nKVHeads*g.headDim, false)
			}
			a.KNorm = norm(at+".k_norm", g.headDim)
			a.VNorm = &layer.RMSNorm{Eps: eps}
		}
		mp := pre + ".mlp"
		l := &Gemma4Layer{SelfAttn: a, Sliding: g.sliding, Source: g.source,
			MLP: &MLP{GLU: metal.GeGLU,
				GateProj: layer.NewLinear(w, mp+".gate_proj", hid, g.mlp, false),
				UpProj:   layer.NewLinear(w, mp+".up_proj", hid, g.mlp, false),
				DownProj: layer.NewLinear(w, mp+".down_proj", g.mlp, hid, false)},
			InputLayernorm:           norm(pre+".input_layernorm", hid),
			PostAttentionLayernorm:   norm(pre+".post_attention_layernorm", hid),
			PreFeedforwardLayernorm:  norm(pre+".pre_feedforward_layernorm", hid),
			PostFeedforwardLayernorm: norm(pre+".post_feedforward_layernorm", hid),
			LayerScalar:              w.Tensor(pre+".layer_scalar", 1),
		}
		if p.experts > 0 {
			rt := &Gemma4Router{TopK: p.topK, Eps: eps,
				Proj:           layer.NewLinear(w, pre+".router.proj", hid, p.experts, false),
				PerExpertScale: w.Tensor(pre+".router.per_expert_scale", p.experts)}
			if scale := w.Tensor(pre+".router.scale", hid); scale != nil {
				rt.NormWeight = metal.MulScalar(scale, 1/math.Sqrt(float64(hid)))
				extra = append(extra, rt.NormWeight)
			}
			l.Router = rt
			l.Experts = newSwitchGLU(w, pre+".experts.switch_glu", hid, p.moeHidden, p.experts)
			l.Experts.GLU = metal.GeGLU
			l.PostFeedforwardLayernorm1 = norm(pre+".post_feedforward_layernorm_1", hid)
			l.PostFeedforwardLayernorm2 = norm(pre+".post_feedforward_layernorm_2", hid)
			l.PreFeedforwardLayernorm2 = norm(pre+".pre_feedforward_layernorm_2", hid)
		}
		if p.perLayer > 0 {
			l.PerLayerInputGate = layer.NewLinear(w, pre+".per_layer_input_gate", hid, p.perLayer, false)
			l.PerLayerProjection = layer.NewLinear(w, pre+".per_layer_projection", p.perLayer, hid, false)
			l.PostPerLayerInputNorm = norm(pre+".post_per_layer_input_norm", hid)
		}
		m.Layers = append(m.Layers, l)
		// The Decoder's blocks give NewCaches each layer's kind and head dim.
		d.Layers = append(d.Layers, &Block{SelfAttn: &Attention{NHeads: g.nHeads, NKVHeads: g.nKVHeads, HeadDim: g.headDim}, Sliding: g.sliding})
	}
	if p.perLayer > 0 {
		n := len(p.layers) * p.perLayer
		m.EmbedTokensPerLayer = layer.NewEmbedding(w, "model.embed_tokens_per_layer", p.perVocab, n)
		m.PerLayerModelProjection = layer.NewLinear(w, "model.per_layer_model_projection", hid, n, false)
		m.PerLayerProjectionNorm = norm("model.per_layer_projection_norm", p.perLayer)
	}
	d.Norm = norm("model.norm", hid)
	if w.Has("lm_head.weight") || !c.Tie(true) {
		d.LMHead = layer.NewLinear(w, "lm_head", hid, c.VocabSize, false)
	}
	if err := w.Err(false); err != nil {
		metal.FreeAll(extra...)
		return nil, fmt.Errorf("load %s weights: %w", c.ModelType, err)
	}
	d.arrays = append(w.Taken(), extra...)
	return m, nil
}

// sanitizeGemma4Text is mlx-lm's Gemma 4 sanitize: it drops precomputed
// rotary frequencies and clipping bounds, the K/V projections of KV-shared
// layers, and splits the experts' fused gate_up_proj [E, 2I, H] into
// switch_glu gate and up projections.
func sanitizeGemma4Text(raw *model.Config, weights map[string]*metal.Array) error {
	c, err := raw.WithDefaults(gemma4Defaults)
	if err != nil {
		return err
	}
	var a gemma4Args
	if err := c.Decode(&a); err != nil {
		return err
	}
	first := c.NumHiddenLayers - intOr(a.NumKVSharedLayers, 20)
	dropKeys(weights, "self_attn.rotary_emb", "input_max", "input_min", "output_max", "output_min")
	for name, v := range weights {
		if strings.Contains(name, ".self_attn.k_proj") || strings.Contains(name, ".self_attn.v_proj") || strings.Contains(name, ".self_attn.k_norm") {
			if _, rest, ok := strings.Cut(name, "layers."); ok {
				idx, _, _ := strings.Cut(rest, ".")
				if i, err := strconv.Atoi(idx); err == nil && i >= first {
					delete(weights, name)
					continue
				}
			}
		}
		if base, ok := strings.CutSuffix(name, ".experts.gate_up_proj"); ok {
			if v.Ndim() < 2 || v.Dim(-2)%2 != 0 {
				return fmt.Errorf("%s: shape %v does not split in two along its second-to-last axis", name, v.Shape())
			}
			parts := metal.SplitEqual(v, 2, -2)
			weights[base+".experts.switch_glu.gate_proj.weight"] = metal.Contiguous(parts[0])
			weights[base+".experts.switch_glu.up_proj.weight"] = metal.Contiguous(parts[1])
			delete(weights, name)
			continue
		}
		if base, ok := strings.CutSuffix(name, ".experts.down_proj"); ok {
			weights[base+".experts.switch_glu.down_proj.weight"] = v
			delete(weights, name)
		}
	}
	return nil
}

// quantGemma4 keeps the experts' router at 8 bits, group 64 (mlx-lm's
// Gemma 4 quant_predicate).
func quantGemma4(path string) *model.QuantParams {
	if strings.HasSuffix(path, "router.proj") {
		return &model.QuantParams{GroupSize: 64, Bits: 8, Mode: metal.ModeAffine}
	}
	return nil
}
