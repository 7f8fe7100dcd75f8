package cache

import (
	"fmt"

	"github.com/lmx-app/lmx/metal"
)

// step is how many positions a cache grows by at once (mlx-lm's KVCache.step).
const step = 256

// KV is the standard cache (mlx-lm KVCache / BatchKVCache): preallocated in
// steps of 256 positions and filled with slice updates.
type KV struct {
	keys, values *metal.Array
	position
}

// position is where a cache's sequences are: the positions processed and
// each sequence's left padding (the standard cache's, and the stand-ins'
// that hold no keys: state caches, a pipeline's other layers).
type position struct {
	idx     int
	leftPad []int32
}

// Offset implements Cache.
func (p *position) Offset() int { return p.idx }

// Offsets implements Cache.
func (p *position) Offsets() *metal.Array {
	return offsetsArray(p.idx, p.leftPad, max(len(p.leftPad), 1))
}

// causalMask is the mask for n new tokens of a cache that keeps every
// position: causal, limited to window, and hiding each sequence's padding.
func (p *position) causalMask(n, window int) Mask {
	if hasPadding(p.leftPad) || window > 0 {
		return Mask{Mode: "array", Array: CausalMask(n, p.idx, window, p.leftPad)}
	}
	if n == 1 {
		return Mask{}
	}
	return Mask{Mode: "causal"}
}

// NewKV returns an empty cache; leftPad gives each sequence's left padding
// (nil for none).
func NewKV(leftPad []int) *KV {
	return &KV{position: position{leftPad: toInt32(leftPad)}}
}

// Update implements Cache.
func (c *KV) Update(k, v *metal.Array) (*metal.Array, *metal.Array) {
	prev, n := c.idx, k.Dim(2)
	if c.keys == nil || prev+n > c.keys.Dim(2) {
		c.grow(k, v, n)
	}
	c.idx += n
	c.keys = metal.Replace(c.keys, writeSeq(c.keys, k, prev))
	c.values = metal.Replace(c.values, writeSeq(c.values, v, prev))
	return sliceSeq(c.keys, 0, c.idx), sliceSeq(c.values, 0, c.idx)
}

// grow extends the buffers by whole steps to fit n more positions.
func (c *KV) grow(k, v *metal.Array, n int) {
	size := (step + n - 1) / step * step
	newK := metal.Zeros([]int{k.Dim(0), k.Dim(1), size, k.Dim(3)}, k.Dtype())
	newV := metal.Zeros([]int{v.Dim(0), v.Dim(1), size, v.Dim(3)}, v.Dtype())
	if c.keys == nil {
		c.keys, c.values = newK.Keep(), newV.Keep()
		return
	}
	oldK, oldV := c.keys, c.values
	if c.idx%step != 0 {
		oldK, oldV = sliceSeq(oldK, 0, c.idx), sliceSeq(oldV, 0, c.idx)
	}
	c.keys = metal.Replace(c.keys, metal.Concatenate([]*metal.Array{oldK, newK}, 2))
	c.values = metal.Replace(c.values, metal.Concatenate([]*metal.Array{oldV, newV}, 2))
}

// Trim implements Cache.
func (c *KV) Trim(n int) int {
	n = min(n, c.idx)
	c.idx -= n
	return n
}

// State implements Cache: keys, values up to the offset, and the left padding.
func (c *KV) State() State {
	if c.keys == nil {
		return State{}
	}
	meta := make([]int, len(c.leftPad))
	for i, p := range c.leftPad {
		meta[i] = int(p)
	}
	return State{Arrays: []*metal.Array{sliceSeq(c.keys, 0, c.idx), sliceSeq(c.values, 0, c.idx)}, Meta: meta}
}

// Restore implements Cache.
func (c *KV) Restore(s State) error {
	if len(s.Arrays) != 2 || s.Arrays[0].Ndim() != 4 {
		return fmt.Errorf("%w: want keys and values [B, H, L, D]", ErrBadState)
	}
	c.Free()
	c.keys, c.values = s.Arrays[0].Keep(), s.Arrays[1].Keep()
	c.idx = c.keys.Dim(2)
	c.leftPad = toInt32(s.Meta)
	return nil
}

// MakeMask implements Cache.
func (c *KV) MakeMask(n, window int) Mask { return c.causalMask(n, window) }

// Bytes implements Cache.
func (c *KV) Bytes() int {
	if c.keys == nil {
		return 0
	}
	return c.keys.Nbytes() + c.values.Nbytes()
}

// Free implements Cache.
func (c *KV) Free() {
	metal.FreeAll(c.keys, c.values)
	c.keys, c.values, c.idx = nil, nil, 0
}

// toInt32 converts padding to int32 (nil stays nil).
func toInt32(xs []int) []int32 {
	if xs == nil {
		return nil
	}
	out := make([]int32, len(xs))
	for i, x := range xs {
		out[i] = int32(x)
	}
	return out
}
