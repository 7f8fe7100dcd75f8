// Port of mlx_lm/models/lfm2.py: Liquid's LFM2, a hybrid of gated short
// convolutions and grouped-query attention layers.
package arch

import (
	"fmt"
	"math"
	"slices"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	register(Arch{New: newLfm2, Sanitize: sanitizeLfm2}, "lfm2")
}

// lfm2Args are the LFM2 fields beyond the shared config.
type lfm2Args struct {
	NormEps               *float64 `json:"norm_eps"`
	ConvBias              bool     `json:"conv_bias"`
	ConvLCache            int      `json:"conv_L_cache"`
	BlockDim              int      `json:"block_dim"`
	BlockFFDim            *int     `json:"block_ff_dim"`
	BlockMultipleOf       int      `json:"block_multiple_of"`
	BlockFFNDimMultiplier *float64 `json:"block_ffn_dim_multiplier"`
	BlockAutoAdjustFFDim  bool     `json:"block_auto_adjust_ff_dim"`
	FullAttnIdxs          []int    `json:"full_attn_idxs"`
	TieEmbedding          *bool    `json:"tie_embedding"`
}

// Lfm2 is the LFM2 model: embeddings, layers that are either attention or
// a short convolution, each followed by a SwiGLU feed-forward, a final
// norm and an output head tied to the embeddings unless the checkpoint
// has its own.
type Lfm2 struct {
	EmbedTokens *layer.Embedding
	Layers      []*lfm2Layer
	Norm        *layer.RMSNorm
	LMHead      *layer.Linear
	arrays      []*metal.Array
	// attnIdx and convIdx are the first attention and convolution layers,
	// whose caches make the masks of all layers of their kind (-1: none).
	attnIdx, convIdx int
	// stage, when set, is the layers this rank of a pipeline runs.
	stage *stage
}

// lfm2Layer is one decoder layer; exactly one of Attn and Conv is set.
type lfm2Layer struct {
	Attn    *Attention
	Conv    *ShortConv
	MLP     *MLP
	OpNorm  *layer.RMSNorm
	FFNNorm *layer.RMSNorm
}

// ShortConv is LFM2's gated short convolution: in_proj gives B, C and x;
// B·x runs through a depthwise causal convolution of window L over the
// sequence (the last L−1 inputs are the layer's state), C gates the result
// and out_proj maps it back.
type ShortConv struct {
	InProj, OutProj *layer.Linear
	// Kernel is the depthwise weight as [L, H] (row k multiplies the input
	// k positions after the window's start); Bias is [H] or nil.
	Kernel *metal.Array
	Bias   *metal.Array
	L      int
}

// newLfm2 builds an LFM2 model.
func newLfm2(c *model.Config, w *layer.Weights) (Model, error) {
	args, err := lfm2Config(c)
	if err != nil {
		return nil, err
	}
	eps := c.RMSNormEps
	if args.NormEps != nil {
		eps = *args.NormEps
	}
	attn := make([]bool, c.NumHiddenLayers)
	for _, i := range args.FullAttnIdxs {
		if i < 0 || i >= c.NumHiddenLayers {
			return nil, c.FieldError("full_attn_idxs", fmt.Sprintf("layer %d out of range", i))
		}
		attn[i] = true
	}
	ffDim := lfm2FFDim(args)
	headDim := c.HiddenSize / c.NumAttentionHeads
	var rope *layer.RoPE
	if slices.Contains(attn, true) {
		r, err := layer.NewRoPE(headDim, false, withTheta(c.RopeFor("full_attention"), 1000000), c.MaxPositionEmbeddings)
		if err != nil {
			return nil, c.FieldError("rope_parameters", err.Error())
		}
		rope = r
	}
	m := &Lfm2{attnIdx: -1, convIdx: -1}
	m.EmbedTokens = layer.NewEmbedding(w, "model.embed_tokens", c.VocabSize, c.HiddenSize)
	var derived []*metal.Array
	for i := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d", i)
		l := &lfm2Layer{
			OpNorm:  layer.NewRMSNorm(w, p+".operator_norm", c.HiddenSize, eps),
			FFNNorm: layer.NewRMSNorm(w, p+".ffn_norm", c.HiddenSize, eps),
			MLP: &MLP{
				GLU:      metal.SwiGLU,
				GateProj: layer.NewLinear(w, p+".feed_forward.w1", c.HiddenSize, ffDim, false),
				UpProj:   layer.NewLinear(w, p+".feed_forward.w3", c.HiddenSize, ffDim, false),
				DownProj: layer.NewLinear(w, p+".feed_forward.w2", ffDim, c.HiddenSize, false),
			},
		}
		if attn[i] {
			l.Attn = lfm2Attention(w, c, p+".self_attn", headDim, eps, rope)
			if m.attnIdx < 0 {
				m.attnIdx = i
			}
		} else {
			l.Conv = newShortConv(w, p+".conv", c.HiddenSize, args.ConvLCache, args.ConvBias)
			if l.Conv.Kernel != nil {
				derived = append(derived, l.Conv.Kernel)
			}
			if m.convIdx < 0 {
				m.convIdx = i
			}
		}
		m.Layers = append(m.Layers, l)
	}
	m.Norm = layer.NewRMSNorm(w, "model.embedding_norm", c.HiddenSize, eps)
	if !lfm2Tied(c, args) {
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

// lfm2Config validates the config and reads LFM2's own fields.
func lfm2Config(c *model.Config) (lfm2Args, error) {
	var args lfm2Args
	if err := c.Decode(&args); err != nil {
		return args, err
	}
	if args.BlockFFDim == nil {
		if c.IntermediateSize <= 0 {
			return args, c.FieldError("block_ff_dim", "missing (and no intermediate_size)")
		}
		args.BlockFFDim = &c.IntermediateSize
	}
	if err := c.RequirePositive(map[string]int{
		"hidden_size": c.HiddenSize, "num_hidden_layers": c.NumHiddenLayers,
		"num_attention_heads": c.NumAttentionHeads, "num_key_value_heads": c.NumKeyValueHeads,
		"vocab_size": c.VocabSize, "conv_L_cache": args.ConvLCache, "block_ff_dim": *args.BlockFFDim,
	}); err != nil {
		return args, err
	}
	if args.BlockDim != 0 && args.BlockDim != c.HiddenSize {
		return args, c.FieldError("block_dim", fmt.Sprintf("%d differs from hidden_size %d", args.BlockDim, c.HiddenSize))
	}
	if args.BlockAutoAdjustFFDim && args.BlockMultipleOf <= 0 {
		return args, c.FieldError("block_multiple_of", "must be positive with block_auto_adjust_ff_dim")
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		return args, c.FieldError("num_attention_heads", fmt.Sprintf("does not divide hidden_size %d", c.HiddenSize))
	}
	if hd := c.HiddenSize / c.NumAttentionHeads; c.Has("head_dim") && c.HeadDim != hd {
		return args, c.FieldError("head_dim", fmt.Sprintf("%d, but LFM2 uses hidden_size / num_attention_heads = %d", c.HeadDim, hd))
	}
	if err := checkHeads(c); err != nil {
		return args, err
	}
	if args.FullAttnIdxs == nil {
		if len(c.LayerTypes) != c.NumHiddenLayers {
			return args, c.FieldError("layer_types", fmt.Sprintf("want one type per layer (%d) or full_attn_idxs", c.NumHiddenLayers))
		}
		for i, t := range c.LayerTypes {
			switch t {
			case "full_attention":
				args.FullAttnIdxs = append(args.FullAttnIdxs, i)
			case "conv":
			default:
				return args, c.FieldError("layer_types", fmt.Sprintf("layer %d: unknown type %q (want conv or full_attention)", i, t))
			}
		}
	}
	return args, nil
}

// lfm2FFDim is the feed-forward width: block_ff_dim, or with auto-adjust
// 2/3 of it times the multiplier, rounded up to block_multiple_of.
func lfm2FFDim(a lfm2Args) int {
	ff := *a.BlockFFDim
	if !a.BlockAutoAdjustFFDim {
		return ff
	}
	ff = int(2 * float64(ff) / 3)
	if a.BlockFFNDimMultiplier != nil {
		ff = int(*a.BlockFFNDimMultiplier * float64(ff))
	}
	return a.BlockMultipleOf * ((ff + a.BlockMultipleOf - 1) / a.BlockMultipleOf)
}

// lfm2Tied reports whether the output head is the embedding table
// (tie_word_embeddings, or LFM2's older tie_embedding; default tied, the
// only layout mlx-lm knows).
func lfm2Tied(c *model.Config, a lfm2Args) bool {
	if c.TieWordEmbeddings == nil && a.TieEmbedding != nil {
		return *a.TieEmbedding
	}
	return c.Tie(true)
}

// lfm2Attention builds an attention layer: q/k RMSNorms (q_layernorm,
// k_layernorm) and out_proj.
func lfm2Attention(w *layer.Weights, c *model.Config, p string, hd int, eps float64, rope *layer.RoPE) *Attention {
	nh, nkv := c.NumAttentionHeads, c.NumKeyValueHeads
	return &Attention{
		NHeads: nh, NKVHeads: nkv, HeadDim: hd, Scale: 1 / math.Sqrt(float64(hd)), Rope: rope,
		QProj: layer.NewLinear(w, p+".q_proj", c.HiddenSize, nh*hd, false),
		KProj: layer.NewLinear(w, p+".k_proj", c.HiddenSize, nkv*hd, false),
		VProj: layer.NewLinear(w, p+".v_proj", c.HiddenSize, nkv*hd, false),
		OProj: layer.NewLinear(w, p+".out_proj", nh*hd, c.HiddenSize, false),
		QNorm: layer.NewRMSNorm(w, p+".q_layernorm", hd, eps),
		KNorm: layer.NewRMSNorm(w, p+".k_layernorm", hd, eps),
	}
}

// newShortConv takes in_proj, out_proj and the depthwise conv.weight in
// MLX's layout [H, L, 1] (sanitizeLfm2 turns PyTorch's [H, 1, L] into it).
func newShortConv(w *layer.Weights, p string, hidden, l int, bias bool) *ShortConv {
	s := &ShortConv{
		L:       l,
		InProj:  layer.NewLinear(w, p+".in_proj", hidden, 3*hidden, bias),
		OutProj: layer.NewLinear(w, p+".out_proj", hidden, hidden, bias),
	}
	if k := w.Tensor(p+".conv.weight", hidden, l, 1); k != nil {
		s.Kernel = depthwiseKernel(k, hidden, l)
	}
	if bias {
		s.Bias = w.Tensor(p+".conv.bias", hidden)
	}
	return s
}

// Forward applies the convolution to x [B, T, H]. mask (array mode, [B, T]
// bool) zeroes the inputs at padded positions; c is nil, a *cache.Recurrent
// holding the last L−1 inputs, or a *cache.Rows of them.
func (s *ShortConv) Forward(x *metal.Array, mask cache.Mask, c cache.Cache) *metal.Array {
	parts := metal.SplitEqual(s.InProj.Forward(x), 3, -1)
	gate, xs := parts[1], metal.Mul(parts[0], parts[2])
	if mask.Mode == "array" && mask.Array != nil {
		xs = metal.Where(metal.ExpandDims(mask.Array, 2), xs, metal.Scalar(0, xs.Dtype()))
	}
	var out *metal.Array
	switch c := c.(type) {
	case nil:
		b, h := xs.Dim(0), xs.Dim(2)
		padded := metal.Concatenate([]*metal.Array{metal.Zeros([]int{b, s.L - 1, h}, xs.Dtype()), xs}, 1)
		out = s.conv(padded)
	case *cache.Rows:
		rows := c.Seqs()
		outs := make([]*metal.Array, len(rows))
		for i, rc := range rows {
			xi := metal.Slice(xs, []int{i, 0, 0}, []int{i + 1, xs.Dim(1), xs.Dim(2)})
			outs[i] = s.conv(s.withState(xi, rc))
		}
		out = metal.Concatenate(outs, 0)
	default:
		out = s.conv(s.withState(xs, c))
	}
	return s.OutProj.Forward(metal.Mul(gate, out))
}

// withState puts the cached last L−1 inputs (zeros at the start) before xs
// [B, T, H], stores the new last L−1 and advances the cache.
func (s *ShortConv) withState(xs *metal.Array, c cache.Cache) *metal.Array {
	rc, ok := c.(*cache.Recurrent)
	if !ok {
		panic(fmt.Sprintf("lfm2: a convolution layer needs a state cache, got %T", c))
	}
	b, t, h := xs.Dim(0), xs.Dim(1), xs.Dim(2)
	state := rc.Get(0)
	if state == nil {
		state = metal.Zeros([]int{b, s.L - 1, h}, xs.Dtype())
	}
	full := metal.Concatenate([]*metal.Array{state, xs}, 1)
	n := full.Dim(1)
	rc.Set(0, metal.Slice(full, []int{0, n - (s.L - 1), 0}, []int{b, n, h}))
	rc.Advance(t)
	return full
}

// conv is the depthwise causal convolution of xs [B, T+L−1, H].
func (s *ShortConv) conv(xs *metal.Array) *metal.Array {
	return causalConv(xs, s.Kernel, s.Bias)
}

// causalConv is a depthwise convolution without padding (nn.Conv1d with
// groups = channels) of xs [B, T+L−1, C] whose L−1 leading positions are
// the state or zeros: out[t] = Σ_k xs[t+k]·kernel[k] (+ bias), [B, T, C];
// kernel is [L, C], bias [C] or nil.
func causalConv(xs, kernel, bias *metal.Array) *metal.Array {
	if dt := xs.Dtype(); dt != metal.Float32 {
		// Accumulate in float32 and round once, as MLX's convolution does.
		f32 := func(a *metal.Array) *metal.Array {
			if a == nil {
				return nil
			}
			return metal.Astype(a, metal.Float32)
		}
		return metal.Astype(causalConv(f32(xs), f32(kernel), f32(bias)), dt)
	}
	b, n, h := xs.Dim(0), xs.Dim(1), xs.Dim(2)
	l := kernel.Dim(0)
	t := n - (l - 1)
	var out *metal.Array
	for k := range l {
		xk := metal.Slice(xs, []int{0, k, 0}, []int{b, k + t, h})
		wk := metal.Reshape(metal.Slice(kernel, []int{k, 0}, []int{k + 1, h}), h)
		term := metal.Mul(xk, wk)
		if out == nil {
			out = term
		} else {
			out = metal.Add(out, term)
		}
	}
	if bias != nil {
		out = metal.Add(out, bias)
	}
	return out
}

// depthwiseKernel turns MLX's conv1d weight [C, L, 1] into [L, C].
func depthwiseKernel(w *metal.Array, c, l int) *metal.Array {
	return metal.Contiguous(metal.Transpose(metal.Reshape(w, c, l), 1, 0))
}

// Forward applies the layer.
func (l *lfm2Layer) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array {
	var r *metal.Array
	if l.Attn != nil {
		r = l.Attn.Forward(l.OpNorm.Forward(x), mask, c, offsets)
	} else {
		r = l.Conv.Forward(l.OpNorm.Forward(x), mask, c)
	}
	h := metal.Add(x, r)
	return metal.Add(h, l.MLP.Forward(l.FFNNorm.Forward(h)))
}

// Hidden implements Model.
func (m *Lfm2) Hidden(ids *metal.Array, caches []cache.Cache) *metal.Array {
	return mixedHidden(m.EmbedTokens, m.Layers, m.Norm, m.attnIdx, m.convIdx, m.stage, ids, caches)
}

// carriesState reports a convolution layer.
func (l *lfm2Layer) carriesState() bool { return l.Conv != nil }

// lfm2AttnMask is the causal mask for n new tokens of an attention layer.
func lfm2AttnMask(n int, c cache.Cache) cache.Mask {
	switch {
	case c != nil:
		return c.MakeMask(n, 0)
	case n == 1:
		return cache.Mask{}
	default:
		return cache.Mask{Mode: "causal"}
	}
}

// Logits implements Model.
func (m *Lfm2) Logits(h *metal.Array) *metal.Array {
	if m.LMHead == nil {
		return m.EmbedTokens.AsLinear(h)
	}
	return m.LMHead.Forward(h)
}

// NewCaches implements Model: attention layers get a KV cache
// (hybridKVCaches), convolution layers a state cache of their last inputs.
func (m *Lfm2) NewCaches(opts CacheOptions) ([]cache.Cache, error) {
	attn := make([]int, len(m.Layers)) // head dim of attention layers, 0 for the others
	for i, l := range m.Layers {
		if l.Attn != nil {
			attn[i] = l.Attn.HeadDim
		}
	}
	caches, err := hybridCaches(opts, attn, 1, "lfm2")
	return m.stage.caches(caches, opts, err)
}

// hybridCaches makes the caches of a hybrid model: for each layer with a
// head dim in attnHeadDim a standard KV cache, or a quantized one with
// KVBits (as mlx-lm quantizes the KV caches of hybrids and leaves their
// state alone); for the others a state cache of stateArrays arrays. A
// bounded KV cache is refused: the state layers remember every position
// anyway (mlx-lm's hybrids ignore max_kv_size), so a bound would only
// change what attention sees.
func hybridCaches(opts CacheOptions, attnHeadDim []int, stateArrays int, name string) ([]cache.Cache, error) {
	if opts.MaxKVSize != 0 {
		return nil, fmt.Errorf("%w: %s keeps recurrent state beside its KV caches: a max KV size is not supported", ErrCacheOptions, name)
	}
	if err := checkKVQuant(opts); err != nil {
		return nil, err
	}
	padded := slices.ContainsFunc(opts.LeftPad, func(p int) bool { return p != 0 })
	g := opts.KVGroupSize
	if g == 0 {
		g = 64
	}
	caches := make([]cache.Cache, len(attnHeadDim))
	for i, hd := range attnHeadDim {
		switch {
		case hd == 0:
			caches[i] = cache.NewRecurrent(stateArrays, opts.LeftPad)
		case opts.KVBits > 0 && padded:
			return nil, fmt.Errorf("%w: left-padded batches need standard caches (layer %d)", ErrCacheOptions, i)
		case opts.KVBits > 0 && hd%g != 0:
			return nil, fmt.Errorf("%w: KV group size %d does not divide head dim %d (layer %d)", ErrCacheOptions, g, hd, i)
		case opts.KVBits > 0:
			caches[i] = cache.NewQuantized(g, opts.KVBits)
		default:
			caches[i] = cache.NewKV(opts.LeftPad)
		}
	}
	return caches, nil
}

// Arrays implements Model.
func (m *Lfm2) Arrays() []*metal.Array { return m.arrays }

// NumLayers implements Model.
func (m *Lfm2) NumLayers() int { return len(m.Layers) }

// sanitizeLfm2 turns PyTorch's depthwise conv weights [H, 1, L] into MLX's
// [H, L, 1] (mlx-lm's sanitize) and drops a tied output head.
func sanitizeLfm2(c *model.Config, weights map[string]*metal.Array) error {
	for name, a := range weights {
		if len(name) >= len("conv.weight") && name[len(name)-len("conv.weight"):] == "conv.weight" && a.Ndim() == 3 && a.Dim(2) > a.Dim(1) {
			weights[name] = metal.Transpose(a, 0, 2, 1)
		}
	}
	var args lfm2Args
	if err := c.Decode(&args); err != nil {
		return err
	}
	if lfm2Tied(c, args) {
		dropKeys(weights, "lm_head.")
	}
	return nil
}
