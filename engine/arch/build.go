package arch

import (
	"fmt"
	"maps"
	"math"
	"strings"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// Build sanitizes the loaded weights and constructs the model for
// cfg.ModelType. Tensors the model does not use are an error, as in
// mlx-lm's strict load. Runs on the MLX thread; the caller keeps Arrays().
func Build(cfg *model.Config, weights map[string]*metal.Array) (Model, error) {
	m, _, err := Prepare(cfg, weights)
	return m, err
}

// Prepare is Build that also returns the paths of the model's quantizable
// modules (Linear, Embedding and SwitchLinear layers, in build order), which
// the converter quantizes. weights is sanitized in place.
func Prepare(cfg *model.Config, weights map[string]*metal.Array) (Model, []string, error) {
	a, err := Lookup(cfg.ModelType)
	if err != nil {
		return nil, nil, err
	}
	if err := a.Sanitize(cfg, weights); err != nil {
		return nil, nil, fmt.Errorf("sanitize weights: %w", err)
	}
	w := newWeights(a, weights, cfg.Quantization)
	m, err := a.New(cfg, w)
	if err != nil {
		return nil, nil, err
	}
	if err := w.Err(true); err != nil {
		return nil, nil, fmt.Errorf("load %s weights: %w", cfg.ModelType, err)
	}
	return m, w.QuantizableModules(), nil
}

// newWeights is layer.NewWeights with the quantization's per-module
// overrides also keyed as the sanitized weights are named: mlx-lm (and LMX's
// converter) write a wrapper model's overrides under the wrapper's prefix
// ("language_model.model.layers.0.mlp.gate": 8 bits, Qwen3.5-MoE's router),
// which Sanitize strips from the weight names. Read as they were, such
// modules took the default bits and the load failed on their shapes.
func newWeights(a Arch, weights map[string]*metal.Array, q *model.Quantization) *layer.Weights {
	if q == nil || a.SavePrefix == "" || len(q.Overrides) == 0 {
		return layer.NewWeights(weights, q)
	}
	keyed := *q
	keyed.Overrides = maps.Clone(q.Overrides)
	for path, p := range q.Overrides {
		if short, ok := strings.CutPrefix(path, a.SavePrefix); ok {
			keyed.Overrides[short] = p
		}
	}
	return layer.NewWeights(weights, &keyed)
}

// spec describes how an architecture assembles a Decoder from its weights.
type spec struct {
	cfg         *model.Config
	qkvBias     bool // biases on the q, k, v projections
	oBias       bool
	qkNorm      bool // per-head RMSNorm of queries and keys
	qkProjNorm  bool // RMSNorm of the whole q and k projections (OLMo 2/3)
	offsetNorm  bool // Gemma's (1 + w) RMSNorms
	layout      blockLayout
	fusedQKV    bool
	fusedGateUp bool
	glu         func(gate, x *metal.Array) *metal.Array // gated activation
	scale       float64                                 // attention scale; 0 means head_dim^-0.5
	embedScale  float64
	tie         bool
	ropeDims    int // rotated features; 0 means head_dim
	sliding     []bool
	window      int
	// ffn builds layer i's feed-forward; nil means the dense MLP.
	ffn func(w *layer.Weights, prefix string, i int) FeedForward
	// rope returns the rope settings of a sliding or full layer.
	rope func(sliding bool) model.Rope
}

// blockLayout is where a decoder layer's norms sit.
type blockLayout int

const (
	// preNorm: a norm before attention and one before the MLP (Llama).
	preNorm blockLayout = iota
	// sandwich: norms before and after both sub-layers (Gemma).
	sandwich
	// postNorm: a norm after each sub-layer, before its residual add, and
	// none before (OLMo 2/3).
	postNorm
)

// build assembles the decoder; weight problems surface through w.Err.
func build(w *layer.Weights, s spec) (*Decoder, error) {
	c := s.cfg
	d := &Decoder{SlidingWindow: s.window, EmbedScale: s.embedScale}
	d.EmbedTokens = layer.NewEmbedding(w, "model.embed_tokens", c.VocabSize, c.HiddenSize)
	var extra []*metal.Array
	ropes := map[bool]*layer.RoPE{}
	for i := range c.NumHiddenLayers {
		sliding := s.sliding != nil && s.sliding[i]
		if ropes[sliding] == nil {
			r, err := s.newRope(sliding)
			if err != nil {
				return nil, err
			}
			ropes[sliding] = r
			extra = append(extra, r.Arrays()...)
		}
		d.Layers = append(d.Layers, s.block(w, i, ropes[sliding], sliding))
	}
	d.Norm = s.norm(w, "model.norm", c.HiddenSize)
	if !s.tie {
		d.LMHead = layer.NewLinear(w, "lm_head", c.HiddenSize, c.VocabSize, false)
	}
	if err := w.Err(false); err != nil {
		return nil, fmt.Errorf("load %s weights: %w", c.ModelType, err)
	}
	d.arrays = append(w.Taken(), extra...)
	if s.offsetNorm {
		d.arrays = append(d.arrays, gemmaNormArrays(d)...)
	}
	return d, nil
}

// newRope builds the rotary embedding of a sliding or full layer.
func (s spec) newRope(sliding bool) (*layer.RoPE, error) {
	dims := s.ropeDims
	if dims == 0 {
		dims = s.cfg.HeadDim
	}
	r, err := layer.NewRoPE(dims, s.cfg.RopeTraditional, s.rope(sliding), s.cfg.MaxPositionEmbeddings)
	if err != nil {
		return nil, s.cfg.FieldError("rope_parameters", err.Error())
	}
	return r, nil
}

// block builds decoder layer i.
func (s spec) block(w *layer.Weights, i int, rope *layer.RoPE, sliding bool) *Block {
	c := s.cfg
	p := fmt.Sprintf("model.layers.%d", i)
	b := &Block{SelfAttn: s.attention(w, p+".self_attn", rope), Sliding: sliding}
	if s.ffn != nil {
		b.MLP = s.ffn(w, p+".mlp", i)
	} else {
		b.MLP = s.mlp(w, p+".mlp", c.IntermediateSize)
	}
	if s.layout != postNorm {
		b.InputLayernorm = s.norm(w, p+".input_layernorm", c.HiddenSize)
	}
	b.PostAttentionLayernorm = s.norm(w, p+".post_attention_layernorm", c.HiddenSize)
	if s.layout == sandwich {
		b.PreFeedforwardLayernorm = s.norm(w, p+".pre_feedforward_layernorm", c.HiddenSize)
	}
	if s.layout != preNorm {
		b.PostFeedforwardLayernorm = s.norm(w, p+".post_feedforward_layernorm", c.HiddenSize)
	}
	return b
}

// attention builds a layer's self-attention.
func (s spec) attention(w *layer.Weights, p string, rope *layer.RoPE) *Attention {
	c := s.cfg
	hd, nh, nkv := c.HeadDim, c.NumAttentionHeads, c.NumKeyValueHeads
	a := &Attention{NHeads: nh, NKVHeads: nkv, HeadDim: hd, Scale: s.scale, Rope: rope}
	if a.Scale == 0 {
		a.Scale = 1 / math.Sqrt(float64(hd))
	}
	if s.fusedQKV {
		a.QKVProj = layer.NewLinear(w, p+".qkv_proj", c.HiddenSize, (nh+2*nkv)*hd, s.qkvBias)
	} else {
		a.QProj = layer.NewLinear(w, p+".q_proj", c.HiddenSize, nh*hd, s.qkvBias)
		a.KProj = layer.NewLinear(w, p+".k_proj", c.HiddenSize, nkv*hd, s.qkvBias)
		a.VProj = layer.NewLinear(w, p+".v_proj", c.HiddenSize, nkv*hd, s.qkvBias)
	}
	a.OProj = layer.NewLinear(w, p+".o_proj", nh*hd, c.HiddenSize, s.oBias)
	if s.qkNorm {
		a.QNorm = s.norm(w, p+".q_norm", hd)
		a.KNorm = s.norm(w, p+".k_norm", hd)
	}
	if s.qkProjNorm {
		a.QProjNorm = s.norm(w, p+".q_norm", nh*hd)
		a.KProjNorm = s.norm(w, p+".k_norm", nkv*hd)
	}
	return a
}

// mlp builds a dense gated feed-forward of the given width.
func (s spec) mlp(w *layer.Weights, p string, hidden int) *MLP {
	c := s.cfg
	m := &MLP{GLU: s.glu, DownProj: layer.NewLinear(w, p+".down_proj", hidden, c.HiddenSize, c.MLPBias)}
	if s.fusedGateUp {
		m.GateUpProj = layer.NewLinear(w, p+".gate_up_proj", c.HiddenSize, 2*hidden, c.MLPBias)
	} else {
		m.GateProj = layer.NewLinear(w, p+".gate_proj", c.HiddenSize, hidden, c.MLPBias)
		m.UpProj = layer.NewLinear(w, p+".up_proj", c.HiddenSize, hidden, c.MLPBias)
	}
	return m
}

// norm builds an RMSNorm (Gemma's 1 + w variant with offsetNorm).
func (s spec) norm(w *layer.Weights, p string, dim int) *layer.RMSNorm {
	if s.offsetNorm {
		return layer.NewOffsetRMSNorm(w, p, dim, s.cfg.RMSNormEps)
	}
	return layer.NewRMSNorm(w, p, dim, s.cfg.RMSNormEps)
}

// gemmaNormArrays lists the (1 + w) arrays offset norms computed at load.
func gemmaNormArrays(d *Decoder) []*metal.Array {
	out := []*metal.Array{d.Norm.Weight}
	for _, b := range d.Layers {
		for _, n := range []*layer.RMSNorm{b.InputLayernorm, b.PostAttentionLayernorm,
			b.PreFeedforwardLayernorm, b.PostFeedforwardLayernorm, b.SelfAttn.QNorm, b.SelfAttn.KNorm,
			b.SelfAttn.QProjNorm, b.SelfAttn.KProjNorm} {
			if n != nil {
				out = append(out, n.Weight)
			}
		}
	}
	return out
}

// requireCommon validates the fields every decoder needs.
func requireCommon(c *model.Config) error {
	return c.RequirePositive(commonFields(c))
}

// commonFields are the sizes requireCommon checks, by config field.
func commonFields(c *model.Config) map[string]int {
	return map[string]int{
		"hidden_size": c.HiddenSize, "num_hidden_layers": c.NumHiddenLayers,
		"intermediate_size": c.IntermediateSize, "num_attention_heads": c.NumAttentionHeads,
		"num_key_value_heads": c.NumKeyValueHeads, "vocab_size": c.VocabSize, "head_dim": c.HeadDim,
	}
}

// checkHeads validates that query heads group evenly over KV heads.
func checkHeads(c *model.Config) error {
	if c.NumAttentionHeads%c.NumKeyValueHeads != 0 {
		return c.FieldError("num_key_value_heads", fmt.Sprintf("%d does not divide num_attention_heads %d", c.NumKeyValueHeads, c.NumAttentionHeads))
	}
	return nil
}

// dropKeys deletes weights whose name contains any of the fragments.
func dropKeys(weights map[string]*metal.Array, fragments ...string) {
	for name := range weights {
		for _, f := range fragments {
			if strings.Contains(name, f) {
				delete(weights, name)
				break
			}
		}
	}
}
