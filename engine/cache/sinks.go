package cache

import "github.com/lmx-app/lmx/metal"

// AttentionSinks is Attention with attention sinks (gpt-oss): sinks [Hq]
// holds one learned logit per query head that joins the softmax's
// denominator and attends to nothing, so a head can put weight nowhere.
// MLX's fast SDPA takes sinks, but the shim does not pass them; this is the
// reference path of mlx::fast::scaled_dot_product_attention with MLX ops
// (scores, the sink logit concatenated in front, a precise softmax, the sink
// column dropped), correct on every backend and every cache kind.
func AttentionSinks(c Cache, q, k, v *metal.Array, scale float64, mask Mask, sinks *metal.Array) *metal.Array {
	switch c := c.(type) {
	case *Rows:
		if len(c.seqs) == 1 {
			s := c.seqs[0]
			return AttentionSinks(s, q, k, v, scale, s.MakeMask(mask.rowTokens, mask.Window), sinks)
		}
		outs := make([]*metal.Array, len(c.seqs))
		for i, s := range c.seqs {
			outs[i] = AttentionSinks(s, row(q, i), row(k, i), row(v, i), scale, s.MakeMask(mask.rowTokens, mask.Window), sinks)
		}
		return metal.Concatenate(outs, 0)
	case *Quantized:
		return c.attendSinks(q, k, v, scale, mask, sinks)
	}
	if c != nil {
		k, v = c.Update(k, v)
	}
	return sdpaSinks(q, k, v, scale, mask, sinks)
}

// sdpaSinks is softmax(scale·q kᵀ + mask, with sinks) v for q [B, Hq, L, D]
// and k, v [B, Hkv, K, D], grouped-query heads as in MLX's fallback.
func sdpaSinks(q, k, v *metal.Array, scale float64, mask Mask, sinks *metal.Array) *metal.Array {
	b, heads, l, d := q.Dim(0), q.Dim(1), q.Dim(2), q.Dim(3)
	kvHeads := k.Dim(1)
	if kvHeads == 0 { // an earlier op failed: the sticky error reports it
		return &metal.Array{}
	}
	rep := heads / kvHeads
	q = metal.MulScalar(q, scale)
	if rep > 1 {
		q = metal.Reshape(q, b, kvHeads, rep, l, d)
		k, v = metal.ExpandDims(k, -3), metal.ExpandDims(v, -3)
	}
	scores := metal.Matmul(q, metal.Swapaxes(k, -1, -2))
	scores = applyMask(scores, mask, rep > 1)
	out := metal.Matmul(sinkSoftmax(scores, sinks, kvHeads, rep), v)
	if rep > 1 {
		out = metal.Reshape(out, b, heads, l, d)
	}
	return out
}

// attendSinks is Quantized.attend with sinks.
func (c *Quantized) attendSinks(q, k, v *metal.Array, scale float64, mask Mask, sinks *metal.Array) *metal.Array {
	return c.attendWith(q, k, v, scale, mask, func(scores *metal.Array, kvHeads, rep int) *metal.Array {
		return sinkSoftmax(scores, sinks, kvHeads, rep)
	})
}

// sinkSoftmax is the softmax over the last axis of scores ([B, Hq, L, K],
// or [B, Hkv, rep, L, K] grouped) with each head's sink logit as an extra
// first column, which is then dropped.
func sinkSoftmax(scores, sinks *metal.Array, kvHeads, rep int) *metal.Array {
	shape := scores.Shape()
	if shape == nil {
		return scores
	}
	s := metal.Astype(sinks, scores.Dtype())
	if rep > 1 {
		s = metal.Reshape(s, 1, kvHeads, rep, 1, 1)
	} else {
		s = metal.Reshape(s, 1, kvHeads, 1, 1)
	}
	col := append(append([]int{}, shape[:len(shape)-1]...), 1)
	p := metal.Softmax(metal.Concatenate([]*metal.Array{metal.BroadcastTo(s, col...), scores}, -1), -1)
	start := make([]int, len(shape))
	start[len(shape)-1] = 1
	stop := append(append([]int{}, shape[:len(shape)-1]...), shape[len(shape)-1]+1)
	return metal.Slice(p, start, stop)
}
