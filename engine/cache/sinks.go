package cache

import "github.com/lmx-app/lmx/metal"

// AttentionSinks is Attention with attention sinks (gpt-oss): sinks [Hq]
// holds one learned logit per query head that joins the softmax's
// denominator and attends to nothing, so a head can put weight nowhere.
// The standard and rotating caches (alone or as the rows of a batch) attend
// through MLX's fused SDPA with sinks, as mlx-lm does; the quantized cache
// with MLX ops (scores, the sink logit in front, a precise softmax, the sink
// column dropped: sinkSoftmax).
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
	// MLX refuses sinks that do not promote to the attention's dtype
	// (float32 sinks, bfloat16 queries).
	if sinks.Dtype() != q.Dtype() {
		sinks = metal.Astype(sinks, q.Dtype())
	}
	return metal.SDPASinks(q, k, v, scale, mask.Mode, mask.Array, sinks)
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
