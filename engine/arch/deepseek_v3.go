// Port of mlx_lm/models/deepseek_v3.py (DeepSeek-V3 / R1, Kimi K2 and the
// other checkpoints that reuse its config): multi-head latent attention and
// the noaux_tc mixture of experts of moe_route.go.
package arch

import (
	"cmp"
	"fmt"
	"math"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

func init() {
	// mlx-lm's MODEL_REMAPPING sends kimi_k2 and joyai_llm_flash here.
	register(Arch{New: newDeepseekV3, Sanitize: sanitizeDeepseekV3}, "deepseek_v3", "kimi_k2", "joyai_llm_flash")
}

// mlaArgs are the multi-head latent attention fields of the config.
type mlaArgs struct {
	QLoraRank      *int  `json:"q_lora_rank"`
	KVLoraRank     int   `json:"kv_lora_rank"`
	QKNopeHeadDim  int   `json:"qk_nope_head_dim"`
	QKRopeHeadDim  int   `json:"qk_rope_head_dim"`
	VHeadDim       int   `json:"v_head_dim"`
	RopeInterleave *bool `json:"rope_interleave"`
}

// readMLAArgs decodes and validates the attention fields.
func readMLAArgs(c *model.Config) (mlaArgs, error) {
	var a mlaArgs
	if err := c.Decode(&a); err != nil {
		return a, err
	}
	req := map[string]int{"kv_lora_rank": a.KVLoraRank, "qk_nope_head_dim": a.QKNopeHeadDim,
		"qk_rope_head_dim": a.QKRopeHeadDim, "v_head_dim": a.VHeadDim}
	if a.QLoraRank != nil {
		req["q_lora_rank"] = *a.QLoraRank
	}
	if err := c.RequirePositive(req); err != nil {
		return a, err
	}
	if a.QKRopeHeadDim%2 != 0 {
		return a, c.FieldError("qk_rope_head_dim", "must be even")
	}
	return a, nil
}

// MLAttention is DeepSeek's multi-head latent attention. Keys and values
// come from one shared latent per position (kv_lora_rank wide, normalized)
// through per-head maps (embed_q: latent → key, unembed_out: latent →
// value, mlx-lm's split of kv_b_proj), plus one rotary key part shared by all
// heads.
//
// It runs in the absorbed form (mlx-lm's decode path, at every length): the
// query is mapped into the latent space, so attention is multi-query with one
// key [latent, k_pe] and one value (the latent) for all heads. The cache thus
// holds 1 "head" of kv_lora_rank+rope keys and kv_lora_rank values per
// position and layer (DeepSeek-V3: 1088 values, against 40960 for expanded
// per-head keys and values), and every cache kind (rotating, quantized,
// batched rows, the prefix cache) works unchanged. mlx-lm stores 576 (the
// latent once, k_pe as the "values"); the 512 more here buy the unchanged
// cache interface.
type MLAttention struct {
	// QProj is set without q LoRA; otherwise QAProj, QANorm and QBProj.
	QProj, QAProj, QBProj *layer.Linear
	QANorm                *layer.RMSNorm
	KVAProj               *layer.Linear
	KVANorm               *layer.RMSNorm
	EmbedQ, UnembedOut    *layer.MultiLinear
	OProj                 *layer.Linear
	NHeads                int
	Nope, RopeDim, VDim   int
	KVRank                int
	Scale                 float64
	Rope                  *layer.RoPE
	// Reduce, when set, sums the output projection over a tensor-parallel
	// group (each rank holds some of the heads; the latent, and so the
	// cache, is whole on every rank, as in mlx-lm).
	Reduce func(*metal.Array) *metal.Array
}

// Forward attends x [B, L, H] with mask, appending to c (may be nil).
func (a *MLAttention) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array {
	b, l := x.Dim(0), x.Dim(1)
	var q *metal.Array
	if a.QProj != nil {
		q = a.QProj.Forward(x)
	} else {
		q = a.QBProj.Forward(a.QANorm.Forward(a.QAProj.Forward(x)))
	}
	q = metal.Transpose(metal.Reshape(q, b, l, a.NHeads, a.Nope+a.RopeDim), 0, 2, 1, 3)
	qs := metal.Split(q, []int{a.Nope}, -1)
	qNope, qPe := qs[0], qs[1]
	kv := metal.Split(a.KVAProj.Forward(x), []int{a.KVRank}, -1)
	latent := metal.ExpandDims(a.KVANorm.Forward(kv[0]), 1) // [B, 1, L, rank]
	kPe := metal.Transpose(metal.Reshape(kv[1], b, l, 1, a.RopeDim), 0, 2, 1, 3)
	qPe, kPe = a.Rope.Apply(qPe, offsets), a.Rope.Apply(kPe, offsets)
	// Absorbed form: each head's query is taken into the latent space
	// (q_nope·embed_qᵀ), so all heads attend one shared key [latent, k_pe]
	// and value (the latent), and unembed_out maps the result per head.
	q = metal.Concatenate([]*metal.Array{a.EmbedQ.Forward(qNope, true), qPe}, -1) // [B, H, L, rank+rope]
	keys := metal.Concatenate([]*metal.Array{latent, kPe}, -1)                    // [B, 1, L, rank+rope]
	out := cache.Attention(c, q, keys, latent, a.Scale, mask)                     // [B, H, L, rank]
	out = metal.Transpose(a.UnembedOut.Forward(out, true), 0, 2, 1, 3)
	return reduce(a.Reduce, a.OProj.Forward(metal.Reshape(out, b, l, a.NHeads*a.VDim)))
}

// MLABlock is one DeepSeek decoder layer (pre-norm, attention then MLP).
type MLABlock struct {
	SelfAttn               *MLAttention
	MLP                    FeedForward
	InputLayernorm         *layer.RMSNorm
	PostAttentionLayernorm *layer.RMSNorm
}

// Forward applies the layer.
func (b *MLABlock) Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array {
	h := metal.Add(x, b.SelfAttn.Forward(b.InputLayernorm.Forward(x), mask, c, offsets))
	return metal.Add(h, b.MLP.Forward(b.PostAttentionLayernorm.Forward(h)))
}

// MLADecoder is the DeepSeek-V3 model.
type MLADecoder struct {
	EmbedTokens *layer.Embedding
	Layers      []*MLABlock
	Norm        *layer.RMSNorm
	LMHead      *layer.Linear
	arrays      []*metal.Array
	// stage, when set, is the layers this rank of a pipeline runs.
	stage *stage
}

// Hidden implements Model.
func (d *MLADecoder) Hidden(ids *metal.Array, caches []cache.Cache) *metal.Array {
	h := d.stage.enter(d.EmbedTokens.Forward(ids))
	var offsets *metal.Array
	var mask cache.Mask
	n := ids.Dim(1)
	switch first := d.stage.first(); {
	case len(caches) > 0:
		offsets, mask = caches[first].Offsets(), caches[first].MakeMask(n, 0)
	case n > 1:
		offsets, mask = metal.Zeros([]int{ids.Dim(0)}, metal.Int32), cache.Mask{Mode: "causal"}
	default:
		offsets = metal.Zeros([]int{ids.Dim(0)}, metal.Int32)
	}
	for i, blk := range d.Layers {
		if !d.stage.owns(i) {
			d.stage.skip(layerCache(caches, i), n)
			continue
		}
		h = blk.Forward(h, mask, layerCache(caches, i), offsets)
	}
	return d.Norm.Forward(d.stage.leave(h))
}

// Logits implements Model.
func (d *MLADecoder) Logits(h *metal.Array) *metal.Array {
	if d.LMHead == nil {
		return d.EmbedTokens.AsLinear(h)
	}
	return d.LMHead.Forward(h)
}

// Arrays implements Model.
func (d *MLADecoder) Arrays() []*metal.Array { return d.arrays }

// NumLayers implements Model.
func (d *MLADecoder) NumLayers() int { return len(d.Layers) }

// NewCaches implements Model: a standard, bounded (MaxKVSize) or quantized
// cache per layer, of the latent keys and values (see MLAttention).
func (d *MLADecoder) NewCaches(opts CacheOptions) ([]cache.Cache, error) {
	if opts.MaxKVSize < 0 || (opts.MaxKVSize > 0 && opts.MaxKVSize <= boundedKeep) {
		return nil, fmt.Errorf("%w: max KV size %d must be 0 (unbounded) or above the %d positions it always keeps",
			ErrCacheOptions, opts.MaxKVSize, boundedKeep)
	}
	if err := checkKVQuant(opts); err != nil {
		return nil, err
	}
	padded := false
	for _, p := range opts.LeftPad {
		padded = padded || p != 0
	}
	if padded && (opts.MaxKVSize > 0 || opts.KVBits > 0) {
		return nil, fmt.Errorf("%w: left-padded batches need standard caches", ErrCacheOptions)
	}
	if opts.KVBits > 0 && opts.MaxKVSize == 0 && len(d.Layers) > 0 {
		g, a := cmp.Or(opts.KVGroupSize, 64), d.Layers[0].SelfAttn
		if (a.KVRank+a.RopeDim)%g != 0 || a.KVRank%g != 0 {
			return nil, fmt.Errorf("%w: KV group size %d does not divide the key width %d and value width %d",
				ErrCacheOptions, g, a.KVRank+a.RopeDim, a.KVRank)
		}
	}
	caches := make([]cache.Cache, len(d.Layers))
	for i := range d.Layers {
		switch {
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

// newDeepseekV3 builds the model from its config and sanitized weights.
func newDeepseekV3(c *model.Config, w *layer.Weights) (Model, error) {
	if err := c.RequirePositive(map[string]int{"hidden_size": c.HiddenSize, "num_hidden_layers": c.NumHiddenLayers,
		"intermediate_size": c.IntermediateSize, "num_attention_heads": c.NumAttentionHeads, "vocab_size": c.VocabSize}); err != nil {
		return nil, err
	}
	ma, err := readMLAArgs(c)
	if err != nil {
		return nil, err
	}
	moe, err := readGroupedMoeArgs(c)
	if err != nil {
		return nil, err
	}
	if anyTrue(func() []bool { s, _ := layerTypes(c); return s }()) {
		return nil, c.FieldError("layer_types", "deepseek_v3 has no sliding-window layers")
	}
	r := withTheta(c.RopeFor(""), 10000)
	traditional := ma.RopeInterleave == nil || *ma.RopeInterleave
	rope, err := layer.NewRoPE(ma.QKRopeHeadDim, traditional, r, c.MaxPositionEmbeddings)
	if err != nil {
		return nil, c.FieldError("rope_parameters", err.Error())
	}
	scale := 1 / math.Sqrt(float64(ma.QKNopeHeadDim+ma.QKRopeHeadDim))
	if r.Type == "yarn" && r.MscaleAllDim != 0 && r.Factor > 1 {
		s := 0.1*r.MscaleAllDim*math.Log(r.Factor) + 1
		scale *= s * s
	}
	// The spec gives the dense MLPs (first_k_dense_replace layers, shared
	// experts) and the norms.
	s := spec{cfg: c, glu: metal.SwiGLU}
	d := &MLADecoder{EmbedTokens: layer.NewEmbedding(w, "model.embed_tokens", c.VocabSize, c.HiddenSize)}
	h, nh := c.HiddenSize, c.NumAttentionHeads
	qDim := ma.QKNopeHeadDim + ma.QKRopeHeadDim
	for i := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d", i)
		ap := p + ".self_attn"
		a := &MLAttention{NHeads: nh, Nope: ma.QKNopeHeadDim, RopeDim: ma.QKRopeHeadDim, VDim: ma.VHeadDim,
			KVRank: ma.KVLoraRank, Scale: scale, Rope: rope}
		if ma.QLoraRank == nil {
			a.QProj = layer.NewLinear(w, ap+".q_proj", h, nh*qDim, false)
		} else {
			a.QAProj = layer.NewLinear(w, ap+".q_a_proj", h, *ma.QLoraRank, c.AttentionBias)
			a.QANorm = layer.NewRMSNorm(w, ap+".q_a_layernorm", *ma.QLoraRank, 1e-6)
			a.QBProj = layer.NewLinear(w, ap+".q_b_proj", *ma.QLoraRank, nh*qDim, false)
		}
		a.KVAProj = layer.NewLinear(w, ap+".kv_a_proj_with_mqa", h, ma.KVLoraRank+ma.QKRopeHeadDim, c.AttentionBias)
		a.KVANorm = layer.NewRMSNorm(w, ap+".kv_a_layernorm", ma.KVLoraRank, 1e-6)
		a.EmbedQ = layer.NewMultiLinear(w, ap+".embed_q", ma.QKNopeHeadDim, ma.KVLoraRank, nh)
		a.UnembedOut = layer.NewMultiLinear(w, ap+".unembed_out", ma.KVLoraRank, ma.VHeadDim, nh)
		a.OProj = layer.NewLinear(w, ap+".o_proj", nh*ma.VHeadDim, h, c.AttentionBias)
		blk := &MLABlock{SelfAttn: a}
		if moe.sparse(i) {
			blk.MLP = newGroupedMoE(w, p+".mlp", h, moe, s.mlp)
		} else {
			blk.MLP = s.mlp(w, p+".mlp", c.IntermediateSize)
		}
		blk.InputLayernorm = layer.NewRMSNorm(w, p+".input_layernorm", h, c.RMSNormEps)
		blk.PostAttentionLayernorm = layer.NewRMSNorm(w, p+".post_attention_layernorm", h, c.RMSNormEps)
		d.Layers = append(d.Layers, blk)
	}
	d.Norm = layer.NewRMSNorm(w, "model.norm", h, c.RMSNormEps)
	if !c.Tie(false) {
		d.LMHead = layer.NewLinear(w, "lm_head", h, c.VocabSize, false)
	}
	if err := w.Err(false); err != nil {
		return nil, fmt.Errorf("load %s weights: %w", c.ModelType, err)
	}
	d.arrays = append(w.Taken(), rope.Arrays()...)
	return d, nil
}

// sanitizeDeepseekV3 is sanitizeGroupedMoe plus mlx-lm's split of each
// kv_b_proj [H·(nope+v), rank] into embed_q [H, rank, nope] (the key map,
// stored transposed) and unembed_out [H, v, rank]; a quantized kv_b_proj
// is dequantized, split and quantized again with its bits and group size,
// as mlx-lm does (unembed_out keeps kv_b_proj's groups along kv_lora_rank,
// so its values come back unchanged; embed_q is quantized along
// qk_nope_head_dim).
func sanitizeDeepseekV3(c *model.Config, weights map[string]*metal.Array) error {
	if c.Tie(false) {
		dropKeys(weights, "lm_head.")
	}
	if err := sanitizeGroupedMoe(c, weights); err != nil {
		return err
	}
	ma, err := readMLAArgs(c)
	if err != nil {
		return err
	}
	nh := c.NumAttentionHeads
	for l := range c.NumHiddenLayers {
		p := fmt.Sprintf("model.layers.%d.self_attn", l)
		v, ok := weights[p+".kv_b_proj.weight"]
		if !ok {
			continue
		}
		delete(weights, p+".kv_b_proj.weight")
		scales, quantized := weights[p+".kv_b_proj.scales"]
		var groupSize, bits int
		if quantized {
			biases := weights[p+".kv_b_proj.biases"]
			delete(weights, p+".kv_b_proj.scales")
			delete(weights, p+".kv_b_proj.biases")
			if v.Dim(-1)*32%ma.KVLoraRank != 0 || ma.KVLoraRank%scales.Dim(-1) != 0 {
				return fmt.Errorf("%w: %s.kv_b_proj: packed width %d and %d scales do not fit kv_lora_rank %d",
					layer.ErrShapeMismatch, p, v.Dim(-1), scales.Dim(-1), ma.KVLoraRank)
			}
			bits, groupSize = v.Dim(-1)*32/ma.KVLoraRank, ma.KVLoraRank/scales.Dim(-1)
			v = metal.Dequantize(v, scales, biases, groupSize, bits, metal.ModeAffine)
		}
		hd := ma.QKNopeHeadDim + ma.VHeadDim
		if s := v.Shape(); len(s) != 2 || s[0] != nh*hd || s[1] != ma.KVLoraRank {
			return fmt.Errorf("%w: %s.kv_b_proj.weight has shape %v, want [%d %d]",
				layer.ErrShapeMismatch, p, s, nh*hd, ma.KVLoraRank)
		}
		parts := metal.Split(metal.Reshape(v, nh, hd, ma.KVLoraRank), []int{ma.QKNopeHeadDim}, 1)
		wk := metal.Contiguous(metal.Swapaxes(parts[0], -1, -2))
		wv := metal.Contiguous(parts[1])
		for name, m := range map[string]*metal.Array{"embed_q": wk, "unembed_out": wv} {
			if !quantized || m.Dim(-1)%groupSize != 0 {
				// a width the group does not divide (embed_q's qk_nope_head_dim
				// in small models; mlx-lm fails there) stays in float
				weights[p+"."+name+".weight"] = m
				continue
			}
			wq, s, b := metal.Quantize(m, groupSize, bits, metal.ModeAffine)
			weights[p+"."+name+".weight"], weights[p+"."+name+".scales"] = wq, s
			if b != nil {
				weights[p+"."+name+".biases"] = b
			}
		}
	}
	return metal.Err()
}
