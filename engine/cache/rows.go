package cache

import "github.com/lmx-app/lmx/metal"

// Rows runs independent sequences as one batch without sharing a buffer:
// row i of the batch attends to seqs[i], a one-row cache of its own, at its
// own position. The scheduler's decode batch uses it, so a sequence joins or
// leaves without re-padding the others, its attention is computed exactly as
// it would be alone, and its cache can go to the prefix cache untouched.
// The projections and the MLP, which read the weights, still run once for
// the whole batch. All rows must bring the same number of new tokens.
type Rows struct {
	seqs []Cache
}

// NewRows wraps one layer's caches of the batch's sequences, in row order.
func NewRows(seqs []Cache) *Rows { return &Rows{seqs: seqs} }

// Offset implements Cache: the largest position of any row.
func (r *Rows) Offset() int {
	off := 0
	for _, c := range r.seqs {
		off = max(off, c.Offset())
	}
	return off
}

// Offsets implements Cache: each row's position, int32 [B].
func (r *Rows) Offsets() *metal.Array {
	parts := make([]*metal.Array, len(r.seqs))
	for i, c := range r.seqs {
		parts[i] = c.Offsets()
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return metal.Concatenate(parts, 0)
}

// Update implements Cache for callers that do not attend through Attention:
// it appends each row and returns the last row's keys and values only when
// there is one row. Attention handles Rows itself.
func (r *Rows) Update(k, v *metal.Array) (*metal.Array, *metal.Array) {
	if len(r.seqs) == 1 {
		return r.seqs[0].Update(k, v)
	}
	panic("cache.Rows: attend through cache.Attention")
}

// Trim implements Cache: every row drops n positions; the least dropped is
// returned.
func (r *Rows) Trim(n int) int {
	least := n
	for _, c := range r.seqs {
		least = min(least, c.Trim(n))
	}
	return least
}

// State implements Cache; a batch of rows is saved row by row, so it has
// no state of its own.
func (r *Rows) State() State { return State{} }

// Restore implements Cache (see State).
func (r *Rows) Restore(State) error { return ErrBadState }

// MakeMask implements Cache: each row builds its own mask in Attention;
// the mask carries the window there.
func (r *Rows) MakeMask(n, window int) Mask {
	return Mask{Mode: "rows", Window: window, rowTokens: n}
}

// Bytes implements Cache.
func (r *Rows) Bytes() int {
	total := 0
	for _, c := range r.seqs {
		total += c.Bytes()
	}
	return total
}

// Free implements Cache: the rows belong to their sequences, so nothing is
// freed here.
func (r *Rows) Free() {}

// attend runs each row's attention against its own cache and stacks the
// outputs [B, heads, L, D].
func (r *Rows) attend(q, k, v *metal.Array, scale float64, mask Mask) *metal.Array {
	if len(r.seqs) == 1 {
		c := r.seqs[0]
		return Attention(c, q, k, v, scale, c.MakeMask(mask.rowTokens, mask.Window))
	}
	outs := make([]*metal.Array, len(r.seqs))
	for i, c := range r.seqs {
		qi, ki, vi := row(q, i), row(k, i), row(v, i)
		outs[i] = Attention(c, qi, ki, vi, scale, c.MakeMask(mask.rowTokens, mask.Window))
	}
	return metal.Concatenate(outs, 0)
}

// row returns a[i:i+1] of a [B, H, L, D] array (nil for nil: the keys and
// values of a KV-shared layer).
func row(a *metal.Array, i int) *metal.Array {
	if a == nil {
		return nil
	}
	return metal.Slice(a, []int{i, 0, 0, 0}, []int{i + 1, a.Dim(1), a.Dim(2), a.Dim(3)})
}
