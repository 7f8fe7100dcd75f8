package cache

import (
	"fmt"

	"github.com/lmx-app/lmx/metal"
)

// Rotating is mlx-lm's RotatingKVCache: it holds at most maxSize positions
// (the first keep positions are never evicted), for sliding-window layers and
// for bounding memory with max_kv_size. Sequences in a batch share one
// position (no left padding).
type Rotating struct {
	keys, values *metal.Array
	offset, idx  int
	maxSize      int
	keepN        int
}

// NewRotating returns an empty rotating cache of maxSize positions that never
// evicts the first keep ones (mlx-lm uses 4 for max_kv_size, 0 for windows).
func NewRotating(maxSize, keep int) *Rotating {
	return &Rotating{maxSize: maxSize, keepN: keep}
}

// Offset implements Cache.
func (c *Rotating) Offset() int { return c.offset }

// Offsets implements Cache.
func (c *Rotating) Offsets() *metal.Array {
	b := 1
	if c.keys != nil {
		b = c.keys.Dim(0)
	}
	return offsetsArray(c.offset, nil, b)
}

// MaxSize is the most positions the cache holds.
func (c *Rotating) MaxSize() int { return c.maxSize }

// Update implements Cache: one token goes in place, several are concatenated
// after putting the buffer in temporal order.
func (c *Rotating) Update(k, v *metal.Array) (*metal.Array, *metal.Array) {
	if k.Dim(2) == 1 {
		return c.updateInPlace(k, v)
	}
	return c.updateConcat(k, v)
}

// trimmed drops trim positions after the kept prefix and appends app (nil: none).
func (c *Rotating) trimmed(trim int, a, app *metal.Array) *metal.Array {
	parts := []*metal.Array{a}
	if trim > 0 {
		parts = []*metal.Array{sliceSeq(a, 0, c.keepN), sliceSeq(a, trim+c.keepN, a.Dim(2))}
	}
	if app != nil {
		parts = append(parts, app)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return metal.Concatenate(parts, 2)
}

// temporalOrder rearranges a rotated buffer into position order.
func (c *Rotating) temporalOrder(a *metal.Array) *metal.Array {
	switch n := a.Dim(2); {
	case c.idx == n:
		return a
	case c.idx < c.offset:
		return metal.Concatenate([]*metal.Array{sliceSeq(a, 0, c.keepN), sliceSeq(a, c.idx, n), sliceSeq(a, c.keepN, c.idx)}, 2)
	default:
		return sliceSeq(a, 0, c.idx)
	}
}

// updateConcat appends several positions; the buffer may exceed maxSize by
// len-1 so every new token still sees maxSize positions.
func (c *Rotating) updateConcat(k, v *metal.Array) (*metal.Array, *metal.Array) {
	if c.keys == nil {
		c.keys, c.values = metal.Contiguous(k).Keep(), metal.Contiguous(v).Keep()
	} else {
		ok, ov := c.temporalOrder(c.keys), c.temporalOrder(c.values)
		c.idx = ok.Dim(2)
		trim := c.idx - c.maxSize + 1
		c.keys = metal.Replace(c.keys, c.trimmed(trim, ok, k))
		c.values = metal.Replace(c.values, c.trimmed(trim, ov, v))
	}
	c.offset += k.Dim(2)
	c.idx = c.keys.Dim(2)
	return c.keys, c.values
}

// updateInPlace writes one position, growing until maxSize then rotating.
func (c *Rotating) updateInPlace(k, v *metal.Array) (*metal.Array, *metal.Array) {
	prev := c.offset
	if c.keys == nil || (prev >= c.keys.Dim(2) && c.keys.Dim(2) < c.maxSize) {
		c.growInPlace(k, v, prev)
	}
	if trim := c.keys.Dim(2) - c.maxSize; trim > 0 {
		c.keys = metal.Replace(c.keys, c.trimmed(trim, c.keys, nil))
		c.values = metal.Replace(c.values, c.trimmed(trim, c.values, nil))
		c.idx = c.maxSize
	}
	if c.idx == c.maxSize {
		c.idx = c.keepN
	}
	c.keys = metal.Replace(c.keys, writeSeq(c.keys, k, c.idx))
	c.values = metal.Replace(c.values, writeSeq(c.values, v, c.idx))
	c.offset++
	c.idx++
	if c.offset < c.maxSize {
		return sliceSeq(c.keys, 0, c.offset), sliceSeq(c.values, 0, c.offset)
	}
	return c.keys, c.values
}

// growInPlace extends the buffer by up to one step, never beyond maxSize.
func (c *Rotating) growInPlace(k, v *metal.Array, prev int) {
	size := min(step, c.maxSize-prev)
	newK := metal.Zeros([]int{k.Dim(0), k.Dim(1), size, k.Dim(3)}, k.Dtype())
	newV := metal.Zeros([]int{v.Dim(0), v.Dim(1), size, v.Dim(3)}, v.Dtype())
	if c.keys == nil {
		c.keys, c.values = newK.Keep(), newV.Keep()
	} else {
		c.keys = metal.Replace(c.keys, metal.Concatenate([]*metal.Array{c.keys, newK}, 2))
		c.values = metal.Replace(c.values, metal.Concatenate([]*metal.Array{c.values, newV}, 2))
	}
	c.idx = prev
}

// Trim implements Cache; only a cache that has not wrapped can be trimmed
// exactly, so a wrapped one trims nothing.
func (c *Rotating) Trim(n int) int {
	if c.offset >= c.maxSize {
		return 0
	}
	n = min(n, c.offset)
	c.offset -= n
	c.idx -= n
	return n
}

// State implements Cache; Meta is keep, maxSize, offset, idx.
func (c *Rotating) State() State {
	if c.keys == nil {
		return State{}
	}
	k, v := c.keys, c.values
	if c.offset < k.Dim(2) {
		k, v = sliceSeq(k, 0, c.offset), sliceSeq(v, 0, c.offset)
	}
	return State{Arrays: []*metal.Array{k, v}, Meta: []int{c.keepN, c.maxSize, c.offset, c.idx}}
}

// Restore implements Cache (it takes ownership of the arrays).
func (c *Rotating) Restore(s State) error {
	if len(s.Arrays) != 2 || len(s.Meta) != 4 {
		return fmt.Errorf("%w: rotating cache wants 2 arrays and 4 numbers", ErrBadState)
	}
	c.Free()
	c.keys, c.values = s.Arrays[0].Keep(), s.Arrays[1].Keep()
	c.keepN, c.maxSize, c.offset, c.idx = s.Meta[0], s.Meta[1], s.Meta[2], s.Meta[3]
	return nil
}

// MakeMask implements Cache. A window smaller than maxSize is only handled
// for several tokens at once (the model uses window == maxSize).
func (c *Rotating) MakeMask(n, window int) Mask { return c.maskAt(c.offset, n, window) }

// maskAt is MakeMask for a cache that has processed offset positions.
func (c *Rotating) maskAt(offset, n, window int) Mask {
	if n == 1 {
		return Mask{}
	}
	if window <= 0 {
		window = c.maxSize
	}
	offset = min(c.maxSize-1, offset)
	if offset+n > window {
		return Mask{Mode: "array", Array: CausalMask(n, offset, window, nil)}
	}
	return Mask{Mode: "causal"}
}

// Bytes implements Cache.
func (c *Rotating) Bytes() int {
	if c.keys == nil {
		return 0
	}
	return c.keys.Nbytes() + c.values.Nbytes()
}

// Free implements Cache.
func (c *Rotating) Free() {
	metal.FreeAll(c.keys, c.values)
	c.keys, c.values, c.offset, c.idx = nil, nil, 0, 0
}
