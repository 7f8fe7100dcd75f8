package cache

import (
	"fmt"

	"github.com/lmx-app/lmx/metal"
)

// Recurrent is the cache of a layer that carries a fixed-size state from one
// position to the next instead of keeping every key and value (mlx-lm's
// ArraysCache): the last inputs of a short convolution (LFM2's ShortConv,
// the conv of a Gated DeltaNet layer) and a linear-attention recurrent state.
// It holds a few arrays, each [B, ...], that the layer reads and replaces at
// every step, plus the number of positions processed, so the model's
// offsets and the scheduler's bookkeeping work as with a KV cache.
//
// A state cannot be rewound: Trim drops nothing (the state of an earlier
// position is gone), so whoever needs a shorter cache (the prefix cache,
// speculative decoding) must take a snapshot at the boundary or do without.
// Left padding is honoured through the mask: MakeMask marks each
// sequence's padded positions so the layer zeroes their inputs, which
// leaves the state as if the sequence had started at its first real token.
type Recurrent struct {
	arrays []*metal.Array // nil entries until the first update
	position
}

// NewRecurrent returns an empty cache of n state arrays; leftPad gives each
// sequence's left padding (nil for none).
func NewRecurrent(n int, leftPad []int) *Recurrent {
	return &Recurrent{arrays: make([]*metal.Array, n), position: position{leftPad: toInt32(leftPad)}}
}

// Get returns state array i (nil before the first update).
func (c *Recurrent) Get(i int) *metal.Array { return c.arrays[i] }

// Set replaces state array i (kept by the cache; the old one is freed).
func (c *Recurrent) Set(i int, a *metal.Array) {
	c.arrays[i] = metal.Replace(c.arrays[i], a)
}

// Advance records n more processed positions.
func (c *Recurrent) Advance(n int) { c.idx += n }

// Update implements Cache; a recurrent layer does not attend, so it is a
// programming error.
func (c *Recurrent) Update(k, v *metal.Array) (*metal.Array, *metal.Array) {
	panic("cache.Recurrent: a state cache holds no keys and values")
}

// Trim implements Cache: a state cannot be rewound, so nothing is dropped
// (0), except that trimming nothing is trivially possible.
func (c *Recurrent) Trim(n int) int { return 0 }

// State implements Cache: the state arrays (new handles) and the offset
// followed by the left padding. An empty or partly filled cache has no
// state.
func (c *Recurrent) State() State {
	if c.idx == 0 {
		return State{}
	}
	out := make([]*metal.Array, len(c.arrays))
	for i, a := range c.arrays {
		if a == nil {
			return State{}
		}
		out[i] = metal.StopGradient(a)
	}
	meta := make([]int, 0, 1+len(c.leftPad))
	meta = append(meta, c.idx)
	for _, p := range c.leftPad {
		meta = append(meta, int(p))
	}
	return State{Arrays: out, Meta: meta}
}

// Restore implements Cache.
func (c *Recurrent) Restore(s State) error {
	if len(s.Arrays) != len(c.arrays) || len(s.Meta) < 1 || s.Meta[0] <= 0 {
		return fmt.Errorf("%w: want %d state arrays and a positive offset, got %d arrays and meta %v",
			ErrBadState, len(c.arrays), len(s.Arrays), s.Meta)
	}
	batch := s.Arrays[0].Dim(0)
	for _, a := range s.Arrays {
		if a == nil || a.Ndim() < 2 || a.Dim(0) != batch {
			return fmt.Errorf("%w: state arrays must share their batch size", ErrBadState)
		}
	}
	c.Free()
	for i, a := range s.Arrays {
		c.arrays[i] = a.Keep()
	}
	c.idx = s.Meta[0]
	c.leftPad = toInt32(s.Meta[1:])
	if len(c.leftPad) == 0 {
		c.leftPad = nil
	}
	return nil
}

// MakeMask implements Cache: without padding no mask; with it an array
// [B, n] (bool) that is false at each sequence's padded positions, the mask
// mlx-lm's create_ssm_mask makes. window does not apply to a state.
func (c *Recurrent) MakeMask(n, window int) Mask {
	if !hasPadding(c.leftPad) {
		return Mask{}
	}
	pos := metal.Reshape(metal.Arange(float64(c.idx), float64(c.idx+n), 1, metal.Int32), 1, n)
	lp := metal.FromInt32(c.leftPad, len(c.leftPad), 1)
	return Mask{Mode: "array", Array: metal.LessEqual(lp, pos)}
}

// Bytes implements Cache.
func (c *Recurrent) Bytes() int {
	total := 0
	for _, a := range c.arrays {
		if a != nil {
			total += a.Nbytes()
		}
	}
	return total
}

// Free implements Cache.
func (c *Recurrent) Free() {
	metal.FreeAll(c.arrays...)
	for i := range c.arrays {
		c.arrays[i] = nil
	}
	c.idx = 0
}

// Seqs returns the per-sequence caches of a Rows batch, in row order: a
// layer that does not attend (a recurrent one) steps each row's state
// itself.
func (r *Rows) Seqs() []Cache { return r.seqs }

// HasState reports whether any cache is a state cache (or a batch of
// them), which cannot be trimmed back.
func HasState(caches []Cache) bool {
	for _, c := range caches {
		switch c := c.(type) {
		case *Recurrent:
			return true
		case *Rows:
			if HasState(c.seqs) {
				return true
			}
		}
	}
	return false
}
