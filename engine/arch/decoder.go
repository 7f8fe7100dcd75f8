package arch

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/metal"
)

// FeedForward is a block's MLP (dense or mixture of experts).
type FeedForward interface {
	Forward(x *metal.Array) *metal.Array
}

// Attention is multi-head attention with grouped KV heads, rotary positions
// and optional per-head q/k norms (the Attention class of mlx-lm's files).
type Attention struct {
	QProj, KProj, VProj, OProj *layer.Linear
	// QKVProj replaces q/k/v projections when the checkpoint fuses them (phi3).
	QKVProj      *layer.Linear
	QNorm, KNorm *layer.RMSNorm
	// QProjNorm and KProjNorm normalize the whole q and k projections,
	// before the split into heads (OLMo 2/3), where QNorm / KNorm are per head.
	QProjNorm, KProjNorm *layer.RMSNorm
	// QueryScale, when set, returns factors [B, 1, L, 1] (float32) the roped
	// queries are multiplied by, from the per-sequence offsets and the number
	// of new positions (Ministral 3's llama-4 attention temperature).
	QueryScale func(offsets *metal.Array, l int) *metal.Array
	NHeads     int
	NKVHeads   int
	HeadDim    int
	Scale      float64
	Rope       *layer.RoPE
	// Reduce, when set, sums the output projection over a tensor-parallel
	// group (each rank holds some of the heads).
	Reduce func(*metal.Array) *metal.Array
}

// Forward attends x [B, L, H] with mask, appending to c (may be nil);
// offsets are the per-sequence rope positions.
func (a *Attention) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array {
	b, l := x.Dim(0), x.Dim(1)
	q, k, v := a.project(x)
	if a.QProjNorm != nil {
		q, k = a.QProjNorm.Forward(q), a.KProjNorm.Forward(k)
	}
	q = a.heads(q, b, l, a.NHeads, a.QNorm)
	k = a.heads(k, b, l, a.NKVHeads, a.KNorm)
	v = a.heads(v, b, l, a.NKVHeads, nil)
	if a.Rope != nil { // nil: a layer without positions (SmolLM3's NoPE layers)
		q, k = a.Rope.Apply(q, offsets), a.Rope.Apply(k, offsets)
	}
	if a.QueryScale != nil {
		q = metal.Mul(q, metal.Astype(a.QueryScale(offsets, l), q.Dtype()))
	}
	out := cache.Attention(c, q, k, v, a.Scale, mask)
	if l > 1 {
		out = metal.Transpose(out, 0, 2, 1, 3)
	}
	return reduce(a.Reduce, a.OProj.Forward(metal.Reshape(out, b, l, a.NHeads*a.HeadDim)))
}

// reduce applies f to x, or returns x when f is nil.
func reduce(f func(*metal.Array) *metal.Array, x *metal.Array) *metal.Array {
	if f == nil {
		return x
	}
	return f(x)
}

// project computes queries, keys and values, split from a fused projection
// when there is one.
func (a *Attention) project(x *metal.Array) (q, k, v *metal.Array) {
	if a.QKVProj == nil {
		return a.QProj.Forward(x), a.KProj.Forward(x), a.VProj.Forward(x)
	}
	qPos := a.NHeads * a.HeadDim
	parts := metal.Split(a.QKVProj.Forward(x), []int{qPos, qPos + a.NKVHeads*a.HeadDim}, -1)
	return parts[0], parts[1], parts[2]
}

// heads reshapes [B, L, n·D] to [B, n, L, D], normalizing each head if norm
// is set. With one position (decode) both layouts hold the same bytes, so a
// reshape alone does it: a graph node fewer per tensor, and every node costs
// host time at each step (as in Forward's output).
func (a *Attention) heads(x *metal.Array, b, l, n int, norm *layer.RMSNorm) *metal.Array {
	if l == 1 {
		x = metal.Reshape(x, b, n, 1, a.HeadDim)
	} else {
		x = metal.Reshape(x, b, l, n, a.HeadDim)
	}
	if norm != nil {
		x = norm.Forward(x)
	}
	if l == 1 {
		return x
	}
	return metal.Transpose(x, 0, 2, 1, 3)
}

// MLP is the gated feed-forward down(GLU(gate(x), up(x))), GLU being
// act(gate)·up fused (metal.SwiGLU, metal.GeGLU); GateUpProj replaces gate
// and up when the checkpoint fuses them (phi3).
type MLP struct {
	GateProj, UpProj, DownProj *layer.Linear
	GateUpProj                 *layer.Linear
	GLU                        func(gate, up *metal.Array) *metal.Array
	// Reduce, when set, sums the output over a tensor-parallel group (each
	// rank holds part of the hidden width).
	Reduce func(*metal.Array) *metal.Array
}

// Forward implements FeedForward.
func (m *MLP) Forward(x *metal.Array) *metal.Array {
	var gate, up *metal.Array
	if m.GateUpProj != nil {
		parts := metal.SplitEqual(m.GateUpProj.Forward(x), 2, -1)
		gate, up = parts[0], parts[1]
	} else {
		gate, up = m.GateProj.Forward(x), m.UpProj.Forward(x)
	}
	return reduce(m.Reduce, m.DownProj.Forward(m.GLU(gate, up)))
}

// Block is one decoder layer. With PostFeedforwardLayernorm set, each
// sub-layer's output is normalized before the residual add: with the input
// and pre-feedforward norms too it is Gemma's sandwich layout, without them
// (nil) OLMo's post-norm layout. Otherwise it is the pre-norm layout of
// Llama (InputLayernorm before attention, PostAttentionLayernorm before the
// MLP).
type Block struct {
	SelfAttn                 *Attention
	MLP                      FeedForward
	InputLayernorm           *layer.RMSNorm
	PostAttentionLayernorm   *layer.RMSNorm
	PreFeedforwardLayernorm  *layer.RMSNorm
	PostFeedforwardLayernorm *layer.RMSNorm
	// Sliding marks a sliding-window attention layer.
	Sliding bool
}

// Forward applies the layer.
func (b *Block) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array {
	r := b.SelfAttn.Forward(maybeNorm(b.InputLayernorm, x), mask, c, offsets)
	if b.PostFeedforwardLayernorm == nil {
		h := metal.Add(x, r)
		return metal.Add(h, b.MLP.Forward(b.PostAttentionLayernorm.Forward(h)))
	}
	h := metal.Add(x, b.PostAttentionLayernorm.Forward(r))
	r = b.MLP.Forward(maybeNorm(b.PreFeedforwardLayernorm, h))
	return metal.Add(h, b.PostFeedforwardLayernorm.Forward(r))
}

// maybeNorm applies n to x, or returns x when n is nil.
func maybeNorm(n *layer.RMSNorm, x *metal.Array) *metal.Array {
	if n == nil {
		return x
	}
	return n.Forward(x)
}

// Decoder is the decoder-only transformer every supported architecture is:
// embedding, blocks, final norm, and an output head (tied to the embedding
// when LMHead is nil).
type Decoder struct {
	EmbedTokens *layer.Embedding
	// EmbedScale multiplies embeddings when nonzero (Gemma), in their dtype.
	EmbedScale    float64
	Layers        []*Block
	Norm          *layer.RMSNorm
	LMHead        *layer.Linear
	SlidingWindow int
	arrays        []*metal.Array
	// stage, when set, is the layers this rank of a pipeline runs.
	stage *stage
}

// Hidden implements Model.
func (d *Decoder) Hidden(ids *metal.Array, caches []cache.Cache) *metal.Array {
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
		h = blk.Forward(h, mask, c, offsets)
	}
	return d.Norm.Forward(d.stage.leave(h))
}

// embed looks up the input embeddings and multiplies them by EmbedScale,
// cast to their dtype as transformers casts Gemma's scale to the weights'.
func (d *Decoder) embed(ids *metal.Array) *metal.Array {
	h := d.EmbedTokens.Forward(ids)
	if d.EmbedScale != 0 {
		h = metal.Mul(h, metal.Scalar(d.EmbedScale, h.Dtype()))
	}
	return h
}

// Logits implements Model.
func (d *Decoder) Logits(h *metal.Array) *metal.Array {
	if d.LMHead == nil {
		return d.EmbedTokens.AsLinear(h)
	}
	return d.LMHead.Forward(h)
}

// Arrays implements Model.
func (d *Decoder) Arrays() []*metal.Array { return d.arrays }

// NumLayers implements Model.
func (d *Decoder) NumLayers() int { return len(d.Layers) }

// boundedKeep is how many first positions a bounded cache never evicts
// (mlx-lm's RotatingKVCache keep=4 for max_kv_size).
const boundedKeep = 4

// NewCaches implements Model: sliding layers get a rotating cache of the
// window, the others a standard, bounded (MaxKVSize) or quantized one.
func (d *Decoder) NewCaches(opts CacheOptions) ([]cache.Cache, error) {
	if opts.MaxKVSize < 0 || (opts.MaxKVSize > 0 && opts.MaxKVSize <= boundedKeep) {
		return nil, fmt.Errorf("%w: max KV size %d must be 0 (unbounded) or above the %d positions it always keeps",
			ErrCacheOptions, opts.MaxKVSize, boundedKeep)
	}
	if err := checkKVQuant(opts); err != nil {
		return nil, err
	}
	if err := d.checkKVGroups(opts); err != nil {
		return nil, err
	}
	padded := false
	for _, p := range opts.LeftPad {
		padded = padded || p != 0
	}
	caches := make([]cache.Cache, len(d.Layers))
	for i, blk := range d.Layers {
		switch {
		case blk.Sliding && padded, opts.MaxKVSize > 0 && padded, opts.KVBits > 0 && padded:
			return nil, fmt.Errorf("%w: left-padded batches need standard caches (layer %d)", ErrCacheOptions, i)
		case blk.Sliding:
			caches[i] = cache.NewRotating(d.SlidingWindow, 0)
		case opts.MaxKVSize > 0:
			caches[i] = cache.NewRotating(opts.MaxKVSize, boundedKeep)
		case opts.KVBits > 0:
			caches[i] = cache.NewQuantized(cmp.Or(opts.KVGroupSize, 64), opts.KVBits)
		default:
			caches[i] = cache.NewKV(opts.LeftPad)
		}
	}
	return d.stage.caches(caches, opts, nil)
}

// checkKVQuant refuses KV-cache quantization MLX does not have.
func checkKVQuant(opts CacheOptions) error {
	if opts.KVBits <= 0 {
		return nil
	}
	if !slices.Contains([]int{2, 3, 4, 5, 6, 8}, opts.KVBits) {
		return fmt.Errorf("%w: KV bits %d (want 2, 3, 4, 5, 6 or 8)", ErrCacheOptions, opts.KVBits)
	}
	if g := opts.KVGroupSize; g != 0 && g != 32 && g != 64 && g != 128 {
		return fmt.Errorf("%w: KV group size %d (want 32, 64 or 128)", ErrCacheOptions, g)
	}
	return nil
}

// checkKVGroups refuses a KV quantization group that does not divide the
// head dimension of a layer it would quantize (MLX would fail mid-step, and
// in a batch that step belongs to other requests too).
func (d *Decoder) checkKVGroups(opts CacheOptions) error {
	if opts.KVBits <= 0 || opts.MaxKVSize > 0 {
		return nil
	}
	g := cmp.Or(opts.KVGroupSize, 64)
	for i, blk := range d.Layers {
		if hd := blk.SelfAttn.HeadDim; !blk.Sliding && hd%g != 0 {
			return fmt.Errorf("%w: KV group size %d does not divide head dim %d (layer %d)", ErrCacheOptions, g, hd, i)
		}
	}
	return nil
}

// offsets returns the rope positions of each sequence (zeros without cache),
// from the cache of the first layer the model runs.
func (d *Decoder) offsets(batch int, caches []cache.Cache) *metal.Array {
	if len(caches) > 0 {
		return caches[d.stage.first()].Offsets()
	}
	return metal.Zeros([]int{batch}, metal.Int32)
}

// mask builds the attention mask for n new tokens of a (sliding) layer.
func (d *Decoder) mask(n int, sliding bool, c cache.Cache) cache.Mask {
	window := 0
	if sliding {
		window = d.SlidingWindow
	}
	if c != nil {
		return c.MakeMask(n, window)
	}
	switch {
	case window > 0 && n > window:
		return cache.Mask{Mode: "array", Array: cache.CausalMask(n, 0, window, nil)}
	case n == 1:
		return cache.Mask{}
	default:
		return cache.Mask{Mode: "causal"}
	}
}

// layerCache returns caches[i], or nil without caches.
func layerCache(caches []cache.Cache, i int) cache.Cache {
	if caches == nil {
		return nil
	}
	return caches[i]
}
