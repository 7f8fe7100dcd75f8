// Package cache holds the key/value caches of attention layers (ports of
// mlx_lm/models/cache.py): a standard cache that grows in steps, a rotating
// cache bounded to a window, and a quantized cache. All are batch-first:
// keys and values are [B, kv_heads, L, head_dim] and each sequence has its
// own position (left padding lets prompts of different lengths share a batch).
// Every method runs on the MLX thread; a cache owns its arrays until Free.
package cache

import (
	"errors"
	"math"

	"github.com/lmx-app/lmx/metal"
)

// ErrBadState marks a state that does not fit the cache it is restored into.
var ErrBadState = errors.New("bad cache state")

// Mask is an attention mask: none, MLX's implicit causal mask, or an array
// (bool, true = attend) broadcastable to [B, heads, L, keys]; "rows" is a
// batch of Rows, where each row makes its own.
type Mask struct {
	// Mode is "", "causal", "array" or "rows".
	Mode  string
	Array *metal.Array
	// Window is the sliding window of a "rows" mask (0: none).
	Window    int
	rowTokens int
}

// State is a cache's content for the prompt cache: its arrays (caller owns
// them once returned) and integer bookkeeping.
type State struct {
	Arrays []*metal.Array
	Meta   []int
}

// Cache is one attention layer's key/value cache.
type Cache interface {
	// Offset is the number of positions the cache has processed.
	Offset() int
	// Offsets returns the per-sequence position of the next token, int32 [B]
	// (Offset minus each sequence's left padding).
	Offsets() *metal.Array
	// Update appends k, v [B, kv_heads, L, D] and returns all keys and values
	// to attend to.
	Update(k, v *metal.Array) (keys, values *metal.Array)
	// Trim drops the last n positions (as far as possible) and returns how
	// many were dropped.
	Trim(n int) int
	// State returns the content for saving; Restore loads it back.
	State() State
	Restore(s State) error
	// MakeMask returns the mask for n new tokens, before Update; window > 0
	// limits attention to the last window positions (sliding-window layers).
	MakeMask(n, window int) Mask
	// Bytes is the memory held by the cache.
	Bytes() int
	// Free releases the cache's arrays.
	Free()
}

// Attention appends k, v to c and runs scaled dot-product attention of q
// [B, heads, L, D] against the cache; c may be nil (no cache: k, v are all).
// A quantized cache attends with quantized matmuls. A *Shared cache (or a
// Rows of them) takes no k, v (nil): it attends over its source's.
func Attention(c Cache, q, k, v *metal.Array, scale float64, mask Mask) *metal.Array {
	switch c := c.(type) {
	case *Rows:
		return c.attend(q, k, v, scale, mask)
	case *Quantized:
		return c.attend(q, k, v, scale, mask)
	case *Shared:
		return c.attend(q, scale, mask)
	}
	if c != nil {
		k, v = c.Update(k, v)
	}
	return metal.SDPA(q, k, v, scale, mask.Mode, mask.Array)
}

// CausalMask builds mlx-lm's create_causal_mask: query i (at position
// offset+i) sees key j when j <= offset+i, j > offset+i-window (window > 0)
// and j >= the sequence's left padding. The result is [n, offset+n], or
// [B, 1, n, offset+n] with padding.
func CausalMask(n, offset, window int, leftPad []int32) *metal.Array {
	total := offset + n
	rinds := metal.Reshape(metal.Arange(0, float64(total), 1, metal.Int32), 1, total)
	linds := metal.Reshape(metal.Arange(float64(offset), float64(total), 1, metal.Int32), n, 1)
	mask := metal.GreaterEqual(linds, rinds)
	if window > 0 {
		mask = metal.LogicalAnd(mask, metal.Less(linds, metal.AddScalar(rinds, float64(window))))
	}
	if hasPadding(leftPad) {
		lp := metal.FromInt32(leftPad, len(leftPad), 1, 1, 1)
		mask = metal.LogicalAnd(mask, metal.LessEqual(lp, rinds))
	}
	return mask
}

// hasPadding reports whether any sequence is left-padded.
func hasPadding(leftPad []int32) bool {
	for _, p := range leftPad {
		if p != 0 {
			return true
		}
	}
	return false
}

// offsetsArray returns offset minus each left padding as int32 [B].
func offsetsArray(offset int, leftPad []int32, batch int) *metal.Array {
	out := make([]int32, batch)
	for i := range out {
		out[i] = int32(offset)
		if i < len(leftPad) {
			out[i] -= leftPad[i]
		}
	}
	return metal.FromInt32(out, batch)
}

// sliceSeq returns a[..., start:stop, :] of a [B, H, L, D] array.
func sliceSeq(a *metal.Array, start, stop int) *metal.Array {
	return metal.Slice(a, []int{0, 0, start, 0}, []int{a.Dim(0), a.Dim(1), stop, a.Dim(3)})
}

// writeSeq returns a with a[..., start:start+L, :] = u.
func writeSeq(a, u *metal.Array, start int) *metal.Array {
	return metal.SliceUpdate(a, u, []int{0, 0, start, 0}, []int{a.Dim(0), a.Dim(1), start + u.Dim(2), a.Dim(3)})
}

// minFloat is the most negative float32, used to mask scores.
var minFloat = -math.MaxFloat32
