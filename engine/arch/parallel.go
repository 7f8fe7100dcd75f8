package arch

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// ErrParallel marks a model that cannot be split the way that was asked.
var ErrParallel = errors.New("cannot split the model")

// Split is how a model is spread over a distributed group.
type Split string

const (
	// TensorParallel splits every layer's attention heads and MLP width
	// over the ranks (mlx-lm's shard_linear "all-to-sharded" in, "sharded-to-
	// all" out, with an all_sum after each attention and MLP).
	TensorParallel Split = "tensor"
	// PipelineParallel gives each rank a contiguous range of layers (rank 0
	// the first), as mlx-lm's pipeline() does: the hidden states go from
	// rank to rank, and every rank ends with the last one's.
	PipelineParallel Split = "pipeline"
)

// Parallel asks Load for one rank's part of a model.
type Parallel struct {
	Group *metal.Group
	// Split is the kind of parallelism; empty chooses: tensor when the
	// architecture and head counts allow it, pipeline otherwise.
	Split Split
}

// LoadParallel is Load for one rank of group: the model is split over the
// group's ranks and this rank reads only its part of the weights from the
// files (its heads and MLP columns, or its layers, and the tensors outside
// the layers). Every rank must call it, and then run the same forward
// passes in the same order (the collectives pair up across ranks). Must run
// on the MLX thread.
func LoadParallel(dir string, p Parallel) (Model, *model.Config, error) {
	if p.Group == nil || p.Group.Size() < 1 {
		return nil, nil, fmt.Errorf("%w: no group", ErrParallel)
	}
	if p.Group.Size() == 1 {
		return Load(dir)
	}
	switch p.Split {
	case "", TensorParallel, PipelineParallel:
	default:
		return nil, nil, fmt.Errorf("%w: unknown split %q (want %q or %q)", ErrParallel, p.Split, TensorParallel, PipelineParallel)
	}
	cfg, headers, err := readFolder(dir)
	if err != nil {
		return nil, nil, err
	}
	var m Model
	metal.Scope(func() {
		// The whole model built from the lazily mapped files (nothing is
		// read) says whether its layers are the kind tensor parallelism
		// handles, and how many there are.
		var weights map[string]*metal.Array
		if weights, err = openWeights(headers); err != nil {
			return
		}
		var whole Model
		if whole, err = Build(cfg, weights); err != nil {
			return
		}
		if p.Split != PipelineParallel {
			m, err = loadTensorParallel(cfg, headers, whole, p.Group)
			if p.Split == TensorParallel || !errors.Is(err, ErrParallel) {
				return
			}
		}
		var st *stage
		if st, err = planPipeline(whole, cfg.ModelType, p.Group); err != nil {
			return
		}
		if weights, err = openWeights(headers); err != nil {
			return
		}
		m, err = buildPipeline(cfg, weights, st)
	})
	if err != nil {
		return nil, nil, err
	}
	return m, cfg, nil
}

// loadTensorParallel loads rank's part of the model whole (built lazily)
// split by tensor parallelism; ErrParallel when it cannot be.
func loadTensorParallel(cfg *model.Config, headers []*model.Header, whole Model, g *metal.Group) (Model, error) {
	if err := checkTensorParallel(cfg, headers, g.Size()); err != nil {
		return nil, err
	}
	if _, err := tensorParallelLayers(whole, cfg.ModelType); err != nil {
		return nil, err
	}
	sharded, err := shardConfig(cfg, g.Size())
	if err != nil {
		return nil, err
	}
	weights, err := openWeights(headers)
	if err != nil {
		return nil, err
	}
	if err := readShards(headers, weights, cfg.Language(), g); err != nil {
		return nil, err
	}
	return buildParallel(sharded, weights, g)
}

// buildParallel builds the rank's model from its shards, adds the all_sums,
// and evaluates and keeps its arrays.
func buildParallel(cfg *model.Config, weights map[string]*metal.Array, g *metal.Group) (Model, error) {
	m, err := Build(cfg, weights)
	if err != nil {
		return nil, err
	}
	layers, err := tensorParallelLayers(m, cfg.ModelType)
	if err != nil {
		return nil, err
	}
	reduce := func(x *metal.Array) *metal.Array { return metal.AllSum(x, g) }
	for _, blk := range layers {
		blk.SelfAttn.Reduce, blk.MLP.(*MLP).Reduce = reduce, reduce
	}
	return m, evalKeep(m)
}

// tensorParallelLayers returns m's layers when tensor parallelism can split
// them: the standard decoder's, with separate q/k/v and gate/up projections,
// per-head norms only, and dense MLPs.
func tensorParallelLayers(m Model, modelType string) ([]*Block, error) {
	d, ok := m.(*Decoder)
	if !ok {
		return nil, fmt.Errorf("%w: %s: tensor parallelism splits the standard decoder's layers only", ErrParallel, modelType)
	}
	for i, blk := range d.Layers {
		a := blk.SelfAttn
		mlp, dense := blk.MLP.(*MLP)
		switch {
		case !dense:
			return nil, fmt.Errorf("%w: %s layer %d: its feed-forward is not a dense MLP", ErrParallel, modelType, i)
		case a.QKVProj != nil || mlp.GateUpProj != nil:
			return nil, fmt.Errorf("%w: %s: fused projections", ErrParallel, modelType)
		case a.QProjNorm != nil:
			return nil, fmt.Errorf("%w: %s: a norm over all heads' projections", ErrParallel, modelType)
		}
	}
	return d.Layers, nil
}

// checkTensorParallel refuses a split the head counts or the weight layout
// do not allow.
func checkTensorParallel(cfg *model.Config, headers []*model.Header, n int) error {
	cfg = cfg.Language()
	nh, nkv := cfg.NumAttentionHeads, cfg.NumKeyValueHeads
	switch {
	case nh%n != 0:
		return fmt.Errorf("%w: %d attention heads do not split over %d ranks", ErrParallel, nh, n)
	case nkv%n != 0 && n%nkv != 0:
		return fmt.Errorf("%w: %d key/value heads neither split over nor repeat across %d ranks", ErrParallel, nkv, n)
	case cfg.IntermediateSize%n != 0:
		return fmt.Errorf("%w: intermediate size %d does not split over %d ranks", ErrParallel, cfg.IntermediateSize, n)
	}
	for _, h := range headers {
		for name, t := range h.Tensors {
			s, ok := shardOf(name, cfg, n, 0)
			if ok && (len(t.Shape) <= s.axis || t.Shape[s.axis]%s.parts != 0) {
				return fmt.Errorf("%w: %s %v does not split in %d along axis %d", ErrParallel, name, t.Shape, s.parts, s.axis)
			}
		}
	}
	return nil
}

// shardConfig is the config one rank builds its part from: its heads and
// MLP width (head_dim stays, set explicitly so that it is not derived anew
// from the fewer heads).
func shardConfig(cfg *model.Config, n int) (*model.Config, error) {
	lm := cfg.Language()
	return cfg.With(map[string]any{
		"num_attention_heads": lm.NumAttentionHeads / n,
		"num_key_value_heads": max(lm.NumKeyValueHeads/n, 1),
		"intermediate_size":   lm.IntermediateSize / n,
		"head_dim":            lm.HeadDim,
	})
}

// shard is the slice of one tensor a rank holds: piece `index` of `parts`
// equal pieces along axis. zeroOff: ranks other than 0 hold zeros (the bias
// of a layer whose output is summed over the ranks is added once).
type shard struct {
	axis, parts, index int
	zeroOff            bool
}

// Suffixes of the projections tensor parallelism splits; checkpoints name
// them this way before and after sanitizing.
var (
	shardedOut = []string{".self_attn.q_proj.", ".mlp.gate_proj.", ".mlp.up_proj."}
	shardedKV  = []string{".self_attn.k_proj.", ".self_attn.v_proj."}
	shardedIn  = []string{".self_attn.o_proj.", ".mlp.down_proj."}
)

// shardOf says how rank holds tensor name, if it is split.
func shardOf(name string, cfg *model.Config, n, rank int) (shard, bool) {
	has := func(frags []string) bool {
		for _, f := range frags {
			if strings.Contains(name, f) {
				return true
			}
		}
		return false
	}
	switch {
	case has(shardedOut):
		return shard{axis: 0, parts: n, index: rank}, true
	case has(shardedKV):
		nkv := cfg.NumKeyValueHeads
		if nkv%n == 0 {
			return shard{axis: 0, parts: n, index: rank}, true
		}
		// Fewer KV heads than ranks: each rank holds the one KV head its
		// query heads read (repeated across ranks, as GQA repeats it).
		return shard{axis: 0, parts: nkv, index: rank * nkv / n}, true
	case has(shardedIn):
		if strings.HasSuffix(name, ".bias") {
			return shard{zeroOff: true}, rank != 0
		}
		return shard{axis: 1, parts: n, index: rank}, true
	}
	return shard{}, false
}

// readShards replaces every split tensor in weights (still lazy: nothing
// was read) with this rank's piece, read from its byte ranges in the file.
func readShards(headers []*model.Header, weights map[string]*metal.Array, cfg *model.Config, g *metal.Group) error {
	for _, h := range headers {
		var f *os.File
		for name, t := range h.Tensors {
			s, ok := shardOf(name, cfg, g.Size(), g.Rank())
			if !ok {
				continue
			}
			dt, err := safetensorsDtype(t.Dtype)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", h.Path, name, err)
			}
			if s.zeroOff {
				weights[name] = metal.Zeros(t.Shape, dt)
				continue
			}
			if f == nil {
				if f, err = os.Open(h.Path); err != nil {
					return fmt.Errorf("load weights: %w", err)
				}
				defer f.Close()
			}
			data, shape, err := readSlice(f, h.DataOffset+t.Offsets[0], t.Shape, int64(dt.Size()), s)
			if err != nil {
				return fmt.Errorf("load weights %s: %s: %w", h.Path, name, err)
			}
			a := metal.FromBytes(data, dt, shape...)
			if err := metal.Err(); err != nil {
				return fmt.Errorf("load weights %s: %s: %w", h.Path, name, err)
			}
			weights[name] = a
		}
	}
	return nil
}

// readSlice reads piece s of a row-major tensor stored at off: one read per
// run of contiguous bytes (the whole piece when it splits the first axis).
func readSlice(f *os.File, off int64, shape []int, elem int64, s shard) ([]byte, []int, error) {
	outer, inner := int64(1), elem
	for i, d := range shape {
		switch {
		case i < s.axis:
			outer *= int64(d)
		case i > s.axis:
			inner *= int64(d)
		}
	}
	size := int64(shape[s.axis] / s.parts)
	run := size * inner
	stride := int64(shape[s.axis]) * inner
	data := make([]byte, outer*run)
	for o := range outer {
		at := off + o*stride + int64(s.index)*run
		if _, err := f.ReadAt(data[o*run:(o+1)*run], at); err != nil {
			return nil, nil, err
		}
	}
	out := append([]int(nil), shape...)
	out[s.axis] = int(size)
	return data, out, nil
}

// safetensorsDtype maps a safetensors dtype name to MLX's.
func safetensorsDtype(name string) (metal.Dtype, error) {
	if dt, ok := map[string]metal.Dtype{
		"BOOL": metal.Bool, "U8": metal.Uint8, "U16": metal.Uint16, "U32": metal.Uint32, "U64": metal.Uint64,
		"I8": metal.Int8, "I16": metal.Int16, "I32": metal.Int32, "I64": metal.Int64,
		"F16": metal.Float16, "BF16": metal.BFloat16, "F32": metal.Float32, "F64": metal.Float64,
	}[name]; ok {
		return dt, nil
	}
	return 0, fmt.Errorf("%w: dtype %s cannot be split", ErrParallel, name)
}
