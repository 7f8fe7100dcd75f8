package cache

import (
	"fmt"

	"github.com/lmx-app/lmx/metal"
)

// Shared is the cache of a layer that computes no keys and values of its
// own and attends over an earlier layer's (Gemma 4's KV-shared layers;
// mlx-lm gives them no cache and hands them the source's keys and values).
// It holds no arrays, only its source, which the source layer updates
// earlier in the same step: the shared layer then attends over what that
// update left (Attention with k, v nil). Its position is the source's, and
// trimming, saving, restoring and freeing are the source cache's business,
// so for a Shared they do nothing and it counts no bytes. The caches of a
// sequence restore their layers in order, so the source is whole again by
// the time its shared layers are checked.
type Shared struct {
	source sharedSource
}

// sharedSource is a cache a Shared can read: one that keeps every key and
// value it attends over in one buffer (standard, rotating, quantized).
type sharedSource interface {
	Cache
	// fetched returns the keys and values the last Update returned.
	fetched() (keys, values *metal.Array)
	// maskBefore is the mask MakeMask(n, window) gave before the last n
	// positions went in.
	maskBefore(n, window int) Mask
}

// NewShared returns the cache of a layer that reads source's keys and
// values; source must be a standard, rotating or quantized cache of the
// same sequences.
func NewShared(source Cache) (*Shared, error) {
	s, ok := source.(sharedSource)
	if !ok {
		return nil, fmt.Errorf("cache: a KV-shared layer cannot read the keys and values of a %T", source)
	}
	return &Shared{source: s}, nil
}

// Offset implements Cache: the source's.
func (c *Shared) Offset() int { return c.source.Offset() }

// Offsets implements Cache: the source's.
func (c *Shared) Offsets() *metal.Array { return c.source.Offsets() }

// Update implements Cache; a shared layer has no keys and values to append,
// so it is a programming error.
func (c *Shared) Update(k, v *metal.Array) (*metal.Array, *metal.Array) {
	panic("cache.Shared: a KV-shared layer attends through cache.Attention with no keys and values of its own")
}

// Trim implements Cache: the source drops the positions; nothing here.
func (c *Shared) Trim(n int) int { return 0 }

// State implements Cache: nothing to save.
func (c *Shared) State() State { return State{} }

// Restore implements Cache: only the empty state fits.
func (c *Shared) Restore(s State) error {
	if len(s.Arrays) != 0 || len(s.Meta) != 0 {
		return fmt.Errorf("%w: a KV-shared layer's cache holds nothing, got %d arrays and meta %v",
			ErrBadState, len(s.Arrays), s.Meta)
	}
	return nil
}

// MakeMask implements Cache for a layer that runs after its source in the
// same step: the mask its source made for the n positions it has just
// added. (A model builds each layer type's mask once, from its first
// layer, which is never a shared one; a batch of rows asks each row after
// the source has run.)
func (c *Shared) MakeMask(n, window int) Mask { return c.source.maskBefore(n, window) }

// Bytes implements Cache: nothing is held.
func (c *Shared) Bytes() int { return 0 }

// Free implements Cache: the source belongs to its own layer.
func (c *Shared) Free() {}

// attend runs q [B, heads, L, D] against the source's keys and values as
// its own layer left them this step, quantized ones with quantized matmuls.
func (c *Shared) attend(q *metal.Array, scale float64, mask Mask) *metal.Array {
	if qc, ok := c.source.(*Quantized); ok {
		return qc.attendStored(q, scale, mask, plainSoftmax)
	}
	k, v := c.source.fetched()
	return metal.SDPA(q, k, v, scale, mask.Mode, mask.Array)
}

// fetched implements sharedSource.
func (c *KV) fetched() (*metal.Array, *metal.Array) {
	return sliceSeq(c.keys, 0, c.idx), sliceSeq(c.values, 0, c.idx)
}

// maskBefore implements sharedSource.
func (c *KV) maskBefore(n, window int) Mask {
	p := c.position
	p.idx -= n
	return p.causalMask(n, window)
}

// fetched implements sharedSource: the buffer up to the offset until it
// fills, then all of it (in rotated order for one token, which needs no
// mask; in temporal order after several).
func (c *Rotating) fetched() (*metal.Array, *metal.Array) {
	if c.offset < c.keys.Dim(2) {
		return sliceSeq(c.keys, 0, c.offset), sliceSeq(c.values, 0, c.offset)
	}
	return c.keys, c.values
}

// maskBefore implements sharedSource.
func (c *Rotating) maskBefore(n, window int) Mask { return c.maskAt(c.offset-n, n, window) }

// fetched implements sharedSource: the dequantized keys and values.
func (c *Quantized) fetched() (*metal.Array, *metal.Array) {
	kq, vq := c.filled(c.keys), c.filled(c.values)
	return metal.Dequantize(kq[0], kq[1], kq[2], c.groupSize, c.bits, "affine"),
		metal.Dequantize(vq[0], vq[1], vq[2], c.groupSize, c.bits, "affine")
}

// maskBefore implements sharedSource.
func (c *Quantized) maskBefore(n, window int) Mask { return c.maskAt(c.idx-n, n, window) }
