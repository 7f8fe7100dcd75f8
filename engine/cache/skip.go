package cache

import (
	"fmt"

	"github.com/lmx-app/lmx/metal"
)

// Skip stands in for the cache of a layer this process does not run (the
// layers outside a pipeline-parallel rank's range): it holds no keys or
// values, only the position, which the model advances by the number of new
// tokens at each step (Advance), so that the offsets, trimming, saving and
// restoring of the rank's caches stay in step with the ranks that run the
// layer. Its mask is the one a standard cache of that position and padding
// would make.
type Skip struct {
	position
}

// NewSkip returns a stand-in at position 0; leftPad gives each sequence's
// left padding (nil for none).
func NewSkip(leftPad []int) *Skip {
	return &Skip{position{leftPad: toInt32(leftPad)}}
}

// Advance records n more processed positions.
func (c *Skip) Advance(n int) { c.idx += n }

// Update implements Cache; a layer that is not run does not attend, so it
// is a programming error.
func (c *Skip) Update(k, v *metal.Array) (*metal.Array, *metal.Array) {
	panic("cache.Skip: the stand-in of a layer this process does not run holds no keys and values")
}

// Trim implements Cache: the position goes back by n (as far as possible).
func (c *Skip) Trim(n int) int {
	n = min(max(n, 0), c.idx)
	c.idx -= n
	return n
}

// State implements Cache: no arrays; Meta is the offset followed by the
// left padding.
func (c *Skip) State() State {
	meta := make([]int, 0, 1+len(c.leftPad))
	meta = append(meta, c.idx)
	for _, p := range c.leftPad {
		meta = append(meta, int(p))
	}
	return State{Meta: meta}
}

// Restore implements Cache.
func (c *Skip) Restore(s State) error {
	if len(s.Arrays) != 0 || len(s.Meta) < 1 || s.Meta[0] < 0 {
		return fmt.Errorf("%w: a stand-in cache wants no arrays and a position, got %d arrays and meta %v",
			ErrBadState, len(s.Arrays), s.Meta)
	}
	c.idx = s.Meta[0]
	c.leftPad = toInt32(s.Meta[1:])
	if len(c.leftPad) == 0 {
		c.leftPad = nil
	}
	return nil
}

// MakeMask implements Cache as KV does.
func (c *Skip) MakeMask(n, window int) Mask { return c.causalMask(n, window) }

// Bytes implements Cache: nothing is held.
func (c *Skip) Bytes() int { return 0 }

// Free implements Cache: there are no arrays; the position goes back to 0,
// as a freed KV cache's does.
func (c *Skip) Free() { c.idx = 0 }
