package gguf

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lmx-app/lmx/engine/convert"
	"github.com/lmx-app/lmx/metal"
)

// hostTensor is one output tensor converted in Go, before it becomes an MLX
// array: float values (written in the import's dtype) or packed words
// (written as uint32).
type hostTensor struct {
	name  string
	shape []int
	f32   []float32
	u32   []uint32
}

// bytes is the tensor's size on disk when floats take floatSize bytes.
func (h hostTensor) bytes(floatSize int) int64 {
	if h.u32 != nil {
		return int64(len(h.u32)) * 4
	}
	return int64(len(h.f32)) * int64(floatSize)
}

// shardWriter writes host tensors into safetensors shards of at most limit
// bytes (a larger tensor gets a shard of its own), mlx-lm's layout: once
// the number of shards is known, finish names them model-0000i-of-0000n
// (model.safetensors when there is one) and writes the index.
type shardWriter struct {
	dir     string
	dtype   metal.Dtype
	limit   int64
	pending []hostTensor
	size    int64
	shards  [][]string // tensor names per written shard
	total   int64
}

// add queues tensors, first writing the pending shard when they would
// overflow it.
func (w *shardWriter) add(ctx context.Context, ts ...hostTensor) error {
	var n int64
	for _, t := range ts {
		n += t.bytes(w.dtype.Size())
	}
	if len(w.pending) > 0 && w.size+n > w.limit {
		if err := w.flush(ctx); err != nil {
			return err
		}
	}
	w.pending = append(w.pending, ts...)
	w.size += n
	return nil
}

// flush writes the pending tensors to the next shard file, on the MLX
// thread; the arrays live only for the write.
func (w *shardWriter) flush(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	path := filepath.Join(w.dir, w.tempName(len(w.shards)))
	names := make([]string, len(w.pending))
	err := metal.Do(ctx, func() error {
		arrays := make(map[string]*metal.Array, len(w.pending))
		for i, t := range w.pending {
			names[i] = t.name
			arrays[t.name] = w.array(t)
		}
		if err := metal.Err(); err != nil {
			return err
		}
		return metal.SaveSafetensors(path, arrays, map[string]string{"format": "mlx"})
	})
	if err != nil {
		return fmt.Errorf("write weights: %w", err)
	}
	w.shards = append(w.shards, names)
	w.total += w.size
	w.pending, w.size = nil, 0
	return nil
}

// array makes the MLX array of a host tensor (inside Do).
func (w *shardWriter) array(t hostTensor) *metal.Array {
	if t.u32 != nil {
		return metal.FromUint32(t.u32, t.shape...)
	}
	a := metal.FromFloat32(t.f32, t.shape...)
	if w.dtype != metal.Float32 {
		a = metal.Astype(a, w.dtype)
	}
	return a
}

// tempName is shard i's name until the count is known.
func (w *shardWriter) tempName(i int) string { return fmt.Sprintf("shard-%05d.safetensors", i) }

// finish writes what is pending, gives the shards their final names and
// writes model.safetensors.index.json (total_parameters counts the
// logical weights, params).
func (w *shardWriter) finish(ctx context.Context, params int64) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	weightMap := map[string]string{}
	for i, names := range w.shards {
		file := "model.safetensors"
		if len(w.shards) > 1 {
			file = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(w.shards))
		}
		if err := os.Rename(filepath.Join(w.dir, w.tempName(i)), filepath.Join(w.dir, file)); err != nil {
			return fmt.Errorf("write weights: %w", err)
		}
		for _, n := range names {
			weightMap[n] = file
		}
	}
	index := map[string]any{
		"metadata":   map[string]any{"total_size": w.total, "total_parameters": params},
		"weight_map": weightMap,
	}
	return convert.WriteJSON(filepath.Join(w.dir, "model.safetensors.index.json"), index)
}
