package generate

import (
	"slices"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/metal"
)

// decodeBatch is the decode batch as one left-padded KV cache per layer
// (cache.MergeKV): one attention call per layer for the whole batch, where
// cache.Rows would make one per sequence. It is kept while the batch's
// sequences stay the same; when one joins or leaves, the rows go back to
// their sequences' own caches (unbatch) and the next step merges anew.
// While a sequence decodes in it, its own caches are empty.
type decodeBatch struct {
	seqs   []*seq
	caches []cache.Cache
}

// batchCaches returns per layer the caches the decode step of batch runs
// on: a sequence's own for one, the merged batch when every row has a
// standard KV cache, else cache.Rows (rotating and quantized caches).
func (s *Scheduler) batchCaches(batch []*seq) []cache.Cache {
	if s.batch != nil && slices.Equal(s.batch.seqs, batch) {
		return s.batch.caches
	}
	s.unbatch()
	if len(batch) == 1 {
		return batch[0].caches
	}
	merged := make([]cache.Cache, len(batch[0].caches))
	for l := range merged {
		rows := make([]cache.Cache, len(batch))
		for i, q := range batch {
			rows[i] = q.caches[l]
		}
		kv, ok := cache.MergeKV(rows)
		if !ok {
			freeCaches(merged[:l])
			return rowCaches(batch)
		}
		merged[l] = kv
	}
	// The merged graph holds what it needs of the rows' arrays until it
	// runs; the rows' caches are empty until unbatch fills them again.
	for _, q := range batch {
		for _, c := range q.caches {
			c.Free()
		}
	}
	s.batch = &decodeBatch{seqs: slices.Clone(batch), caches: merged}
	return merged
}

// unbatch copies every row of the merged batch back into its sequence's
// caches and frees the batch.
func (s *Scheduler) unbatch() {
	b := s.batch
	if b == nil {
		return
	}
	s.batch = nil
	var rows []*metal.Array
	for i, q := range b.seqs {
		for l, c := range b.caches {
			if err := c.(*cache.KV).RestoreRow(i, q.caches[l]); err != nil && q.err == nil {
				q.done, q.err = true, err
			}
		}
		rows = append(rows, cacheState(q.caches)...)
	}
	freeCaches(b.caches)
	// Until they are computed the rows' copies hold the whole batch's
	// buffers: a row that goes to the prefix cache and is never read again
	// would keep every row's memory alive.
	if err := metal.AsyncEval(rows...); err != nil {
		for _, q := range b.seqs {
			if q.err == nil {
				q.done, q.err = true, err
			}
		}
	}
}

// holds reports whether a sequence of ended decodes in the merged batch.
func (b *decodeBatch) holds(ended []*seq) bool {
	if b == nil {
		return false
	}
	for _, q := range ended {
		if slices.Contains(b.seqs, q) {
			return true
		}
	}
	return false
}

// rowCaches returns per layer a cache.Rows over the batch's own caches.
func rowCaches(batch []*seq) []cache.Cache {
	layers := make([]cache.Cache, len(batch[0].caches))
	for l := range layers {
		rows := make([]cache.Cache, len(batch))
		for i, q := range batch {
			rows[i] = q.caches[l]
		}
		layers[l] = cache.NewRows(rows)
	}
	return layers
}
