package cache

import (
	"fmt"

	"github.com/lmx-app/lmx/metal"
)

// Quantized is mlx-lm's QuantizedKVCache: keys and values stored MLX-quantized
// (affine, groupSize, bits) and attended with quantized matmuls, which cuts
// cache memory by 2-4x at a small cost in accuracy. No left padding.
type Quantized struct {
	keys, values    [3]*metal.Array // packed weights, scales, biases
	idx             int
	groupSize, bits int
}

// NewQuantized returns an empty quantized cache; head_dim must be a multiple
// of groupSize (32, 64 or 128) and bits one of 2, 3, 4, 5, 6, 8.
func NewQuantized(groupSize, bits int) *Quantized {
	return &Quantized{groupSize: groupSize, bits: bits}
}

// Offset implements Cache.
func (c *Quantized) Offset() int { return c.idx }

// Offsets implements Cache.
func (c *Quantized) Offsets() *metal.Array {
	b := 1
	if c.keys[0] != nil {
		b = c.keys[0].Dim(0)
	}
	return offsetsArray(c.idx, nil, b)
}

// store quantizes k, v and writes them at the current offset.
func (c *Quantized) store(k, v *metal.Array) {
	prev, n := c.idx, k.Dim(2)
	if c.keys[0] == nil || prev+n > c.keys[0].Dim(2) {
		c.grow(k, v, n)
	}
	c.idx += n
	for i, part := range c.quantize(k) {
		c.keys[i] = metal.Replace(c.keys[i], writeSeq(c.keys[i], part, prev))
	}
	for i, part := range c.quantize(v) {
		c.values[i] = metal.Replace(c.values[i], writeSeq(c.values[i], part, prev))
	}
}

// quantize returns packed, scales, biases of x along its last axis.
func (c *Quantized) quantize(x *metal.Array) [3]*metal.Array {
	w, s, b := metal.Quantize(x, c.groupSize, c.bits, "affine")
	return [3]*metal.Array{w, s, b}
}

// grow extends all six buffers by whole steps.
func (c *Quantized) grow(k, v *metal.Array, n int) {
	size := (step + n - 1) / step * step
	widths := func(d int) [3]int { return [3]int{d * c.bits / 32, d / c.groupSize, d / c.groupSize} }
	dt := [3]metal.Dtype{metal.Uint32, k.Dtype(), k.Dtype()}
	extend := func(parts *[3]*metal.Array, x *metal.Array) {
		w := widths(x.Dim(3))
		for i := range parts {
			z := metal.Zeros([]int{x.Dim(0), x.Dim(1), size, w[i]}, dt[i])
			if parts[i] == nil {
				parts[i] = z.Keep()
				continue
			}
			old := parts[i]
			if c.idx%step != 0 {
				old = sliceSeq(old, 0, c.idx)
			}
			parts[i] = metal.Replace(parts[i], metal.Concatenate([]*metal.Array{old, z}, 2))
		}
	}
	extend(&c.keys, k)
	extend(&c.values, v)
}

// filled returns the parts sliced to the offset.
func (c *Quantized) filled(parts [3]*metal.Array) [3]*metal.Array {
	var out [3]*metal.Array
	for i, p := range parts {
		out[i] = sliceSeq(p, 0, c.idx)
	}
	return out
}

// Update implements Cache, returning dequantized keys and values.
func (c *Quantized) Update(k, v *metal.Array) (*metal.Array, *metal.Array) {
	c.store(k, v)
	return c.fetched()
}

// attend stores k, v and computes attention with quantized matmuls
// (mlx-lm base.quantized_scaled_dot_product_attention).
func (c *Quantized) attend(q, k, v *metal.Array, scale float64, mask Mask) *metal.Array {
	return c.attendWith(q, k, v, scale, mask, plainSoftmax)
}

// plainSoftmax is the softmax of attention without sinks.
func plainSoftmax(scores *metal.Array, _, _ int) *metal.Array { return metal.Softmax(scores, -1) }

// attendWith is attend with its softmax over the masked scores ([B, Hq, L,
// K], or [B, Hkv, rep, L, K] when grouped) given.
func (c *Quantized) attendWith(q, k, v *metal.Array, scale float64, mask Mask, softmax func(scores *metal.Array, kvHeads, rep int) *metal.Array) *metal.Array {
	c.store(k, v)
	return c.attendStored(q, scale, mask, softmax)
}

// attendStored is attendWith over the keys and values already stored (a
// KV-shared layer reading this cache after its own layer stored them).
func (c *Quantized) attendStored(q *metal.Array, scale float64, mask Mask, softmax func(scores *metal.Array, kvHeads, rep int) *metal.Array) *metal.Array {
	kq, vq := c.filled(c.keys), c.filled(c.values)
	b, heads, l, d := q.Dim(0), q.Dim(1), q.Dim(2), q.Dim(3)
	kvHeads := kq[0].Dim(1)
	if kvHeads == 0 { // quantizing failed: the sticky error reports it
		return &metal.Array{}
	}
	rep := heads / kvHeads
	q = metal.MulScalar(q, scale)
	if rep > 1 {
		q = metal.Reshape(q, b, kvHeads, rep, l, d)
		for i := range kq {
			kq[i], vq[i] = metal.ExpandDims(kq[i], -3), metal.ExpandDims(vq[i], -3)
		}
	}
	scores := metal.QuantizedMatmul(q, kq[0], kq[1], kq[2], true, c.groupSize, c.bits, "affine")
	scores = applyMask(scores, mask, rep > 1)
	out := metal.QuantizedMatmul(softmax(scores, kvHeads, rep), vq[0], vq[1], vq[2], false, c.groupSize, c.bits, "affine")
	if rep > 1 {
		out = metal.Reshape(out, b, heads, l, d)
	}
	return out
}

// applyMask masks scores [..., L, K] with a causal or boolean mask; grouped
// is set when scores carry an extra repeat axis before L.
func applyMask(scores *metal.Array, mask Mask, grouped bool) *metal.Array {
	var m *metal.Array
	switch mask.Mode {
	case "":
		return scores
	case "causal":
		ql, kl := scores.Dim(-2), scores.Dim(-1)
		m = CausalMask(ql, kl-ql, 0, nil)
	default:
		m = mask.Array
		if grouped && m.Ndim() == 4 {
			m = metal.ExpandDims(m, 2)
		}
	}
	if m.Dtype() != metal.Bool {
		return metal.Add(scores, m)
	}
	return metal.Where(m, scores, metal.Scalar(minFloat, scores.Dtype()))
}

// Trim implements Cache.
func (c *Quantized) Trim(n int) int {
	n = min(n, c.idx)
	c.idx -= n
	return n
}

// State implements Cache: the six quantized parts; Meta is groupSize, bits.
func (c *Quantized) State() State {
	if c.keys[0] == nil {
		return State{}
	}
	kq, vq := c.filled(c.keys), c.filled(c.values)
	return State{Arrays: append(kq[:], vq[:]...), Meta: []int{c.groupSize, c.bits}}
}

// Restore implements Cache (it takes ownership of the arrays).
func (c *Quantized) Restore(s State) error {
	if len(s.Arrays) != 6 || len(s.Meta) != 2 {
		return fmt.Errorf("%w: quantized cache wants 6 arrays and 2 numbers", ErrBadState)
	}
	c.Free()
	for i := range 3 {
		c.keys[i], c.values[i] = s.Arrays[i].Keep(), s.Arrays[3+i].Keep()
	}
	c.groupSize, c.bits, c.idx = s.Meta[0], s.Meta[1], c.keys[0].Dim(2)
	return nil
}

// MakeMask implements Cache.
func (c *Quantized) MakeMask(n, window int) Mask { return c.maskAt(c.idx, n, window) }

// maskAt is MakeMask for a cache holding offset positions.
func (c *Quantized) maskAt(offset, n, window int) Mask {
	if window > 0 {
		return Mask{Mode: "array", Array: CausalMask(n, offset, window, nil)}
	}
	if n == 1 {
		return Mask{}
	}
	return Mask{Mode: "causal"}
}

// Bytes implements Cache.
func (c *Quantized) Bytes() int {
	total := 0
	for i := range 3 {
		if c.keys[i] != nil {
			total += c.keys[i].Nbytes() + c.values[i].Nbytes()
		}
	}
	return total
}

// Free implements Cache.
func (c *Quantized) Free() {
	metal.FreeAll(append(c.keys[:], c.values[:]...)...)
	c.keys, c.values, c.idx = [3]*metal.Array{}, [3]*metal.Array{}, 0
}
