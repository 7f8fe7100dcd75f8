package cache

import "github.com/lmx-app/lmx/metal"

// MergeKV stacks the caches of one layer of several sequences, each a
// one-row *KV, into one left-padded batch cache (mlx-lm's BatchKVCache):
// row i holds its positions right-aligned, so every row writes its next
// token in the same column and one attention call serves the batch (the
// padding is masked). Room for step more positions is allocated at once.
// ok is false when a row is not a one-row *KV holding positions; the rows
// are left as they were. The rows' arrays stay theirs.
func MergeKV(rows []Cache) (*KV, bool) {
	longest := 0
	for _, r := range rows {
		kv, ok := r.(*KV)
		if !ok || kv.keys == nil || kv.idx == 0 || kv.keys.Dim(0) != 1 || hasPadding(kv.leftPad) {
			return nil, false
		}
		longest = max(longest, kv.idx)
	}
	first := rows[0].(*KV)
	kparts := make([]*metal.Array, len(rows))
	vparts := make([]*metal.Array, len(rows))
	pad := make([]int32, len(rows))
	for i, r := range rows {
		kv := r.(*KV)
		pad[i] = int32(longest - kv.idx)
		kparts[i] = padRow(sliceSeq(kv.keys, 0, kv.idx), longest-kv.idx, step)
		vparts[i] = padRow(sliceSeq(kv.values, 0, kv.idx), longest-kv.idx, step)
	}
	if first.keys.Dtype() != kparts[0].Dtype() {
		return nil, false
	}
	c := &KV{position: position{idx: longest, leftPad: pad}}
	c.keys = metal.Concatenate(kparts, 0).Keep()
	c.values = metal.Concatenate(vparts, 0).Keep()
	return c, true
}

// padRow puts left zero positions before a [1, H, L, D] row and right ones
// after it.
func padRow(a *metal.Array, left, right int) *metal.Array {
	shape := a.Shape()
	parts := make([]*metal.Array, 0, 3)
	if left > 0 {
		parts = append(parts, metal.Zeros([]int{1, shape[1], left, shape[3]}, a.Dtype()))
	}
	parts = append(parts, a)
	if right > 0 {
		parts = append(parts, metal.Zeros([]int{1, shape[1], right, shape[3]}, a.Dtype()))
	}
	return metal.Concatenate(parts, 2)
}

// Rows is the number of sequences in the cache.
func (c *KV) Rows() int {
	if c.keys == nil {
		return max(len(c.leftPad), 1)
	}
	return c.keys.Dim(0)
}

// RestoreRow loads row i of the batch cache c, without its padding, into
// dst (a copy: dst does not keep c's buffers alive).
func (c *KV) RestoreRow(i int, dst Cache) error {
	start := 0
	if i < len(c.leftPad) {
		start = int(c.leftPad[i])
	}
	k := metal.Slice(c.keys, []int{i, 0, start, 0}, []int{i + 1, c.keys.Dim(1), c.idx, c.keys.Dim(3)})
	v := metal.Slice(c.values, []int{i, 0, start, 0}, []int{i + 1, c.values.Dim(1), c.idx, c.values.Dim(3)})
	return dst.Restore(State{Arrays: []*metal.Array{ownCopy(k), ownCopy(v)}})
}

// ownCopy returns a row slice in a buffer of its own (a slice is a view,
// which would keep the whole batch's buffer alive); x·1 is exact.
func ownCopy(a *metal.Array) *metal.Array {
	return metal.MulScalar(a, 1)
}
