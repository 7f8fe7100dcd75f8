package arch

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
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
	// all" out, with an all_sum after each attention and MLP); a mixture of
	// experts splits every expert's width the same way (mlx-lm's
	// shard_inplace on the stacked experts), its router whole on each rank.
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
	// architecture and the head counts and widths allow it, pipeline
	// otherwise.
	Split Split
}

// LoadParallel is Load for one rank of group: the model is split over the
// group's ranks and this rank reads only its part of the weights from the
// files (its heads, MLP columns and share of every expert's width, or its
// layers, and the tensors outside the layers). Every rank must call it, and
// then run the same forward passes in the same order (the collectives pair
// up across ranks). Must run on the MLX thread.
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
	if _, err := parallelSums(whole, cfg.ModelType); err != nil {
		return nil, err
	}
	if err := checkTensorParallel(cfg, headers, g.Size()); err != nil {
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
	sums, err := parallelSums(m, cfg.ModelType)
	if err != nil {
		return nil, err
	}
	reduce := func(x *metal.Array) *metal.Array { return metal.AllSum(x, g) }
	for _, s := range sums {
		*s = reduce
	}
	return m, evalKeep(m)
}

// reducer is where a sharded sub-layer keeps the all_sum that completes its
// output (its Reduce field).
type reducer = *func(*metal.Array) *metal.Array

// parallelSums returns where m's layers take the all_sum after each
// attention and feed-forward when tensor parallelism can split them: the
// standard decoder's (separate q/k/v and gate/up projections, per-head
// norms only), gpt-oss's sink attention and DeepSeek's latent attention,
// with dense MLPs or mixtures of experts.
func parallelSums(m Model, modelType string) ([]reducer, error) {
	var sums []reducer
	switch d := m.(type) {
	case *Decoder:
		for i, blk := range d.Layers {
			a := blk.SelfAttn
			switch {
			case a.QKVProj != nil:
				return nil, fmt.Errorf("%w: %s: fused projections", ErrParallel, modelType)
			case a.QProjNorm != nil:
				return nil, fmt.Errorf("%w: %s: a norm over all heads' projections", ErrParallel, modelType)
			}
			f, err := feedForwardSum(blk.MLP, modelType, i)
			if err != nil {
				return nil, err
			}
			sums = append(sums, &a.Reduce, f)
		}
	case *MLADecoder:
		for i, blk := range d.Layers {
			f, err := feedForwardSum(blk.MLP, modelType, i)
			if err != nil {
				return nil, err
			}
			sums = append(sums, &blk.SelfAttn.Reduce, f)
		}
	case *GptOss:
		for i, blk := range d.Layers {
			f, err := feedForwardSum(blk.MLP, modelType, i)
			if err != nil {
				return nil, err
			}
			// d.Attn[i], the sink attention, is blk.SelfAttn with the
			// sinks (split with their heads).
			sums = append(sums, &blk.SelfAttn.Reduce, f)
		}
	default:
		return nil, fmt.Errorf("%w: %s: tensor parallelism splits the standard decoder's and latent attention's layers only", ErrParallel, modelType)
	}
	return sums, nil
}

// feedForwardSum returns where layer i's feed-forward f takes its all_sum:
// a dense MLP's own, or a mixture of experts' after its routed experts
// and shared expert are added (mlx-lm's sharding_group): the router stays
// whole on every rank, which so choose the same experts.
func feedForwardSum(f FeedForward, modelType string, i int) (reducer, error) {
	switch f := f.(type) {
	case *MLP:
		if f.GateUpProj == nil {
			return &f.Reduce, nil
		}
	case *SparseMoeBlock:
		return &f.Reduce, nil
	case *GptOssMoE:
		return &f.Reduce, nil
	case *GroupedMoE:
		if f.Shared == nil || f.Shared.GateUpProj == nil {
			return &f.Reduce, nil
		}
	}
	return nil, fmt.Errorf("%w: %s layer %d: tensor parallelism does not split its feed-forward (%T)", ErrParallel, modelType, i, f)
}

// checkTensorParallel refuses a split the head counts, the widths or the
// weight layout do not allow.
func checkTensorParallel(cfg *model.Config, headers []*model.Header, n int) error {
	cfg = cfg.Language()
	nh, nkv := cfg.NumAttentionHeads, cfg.NumKeyValueHeads
	moe, err := moeWidth(cfg)
	if err != nil {
		return err
	}
	switch {
	case nh%n != 0:
		return fmt.Errorf("%w: %d attention heads do not split over %d ranks", ErrParallel, nh, n)
	case nkv%n != 0 && n%nkv != 0:
		return fmt.Errorf("%w: %d key/value heads neither split over nor repeat across %d ranks", ErrParallel, nkv, n)
	case cfg.IntermediateSize%n != 0:
		return fmt.Errorf("%w: intermediate size %d does not split over %d ranks", ErrParallel, cfg.IntermediateSize, n)
	case moe%n != 0:
		return fmt.Errorf("%w: the experts' width (moe_intermediate_size) %d does not split over %d ranks", ErrParallel, moe, n)
	}
	for _, h := range headers {
		for _, name := range slices.Sorted(maps.Keys(h.Tensors)) { // the same tensor named every time
			t := h.Tensors[name]
			s, ok := shardOf(name, len(t.Shape), cfg, n, 0)
			if ok && (s.axis < 0 || len(t.Shape) <= s.axis || t.Shape[s.axis]%s.parts != 0) {
				return fmt.Errorf("%w: %s %v does not split in %d along axis %d", ErrParallel, name, t.Shape, s.parts, s.axis)
			}
		}
	}
	return nil
}

// moeWidth is the config's moe_intermediate_size (0 without one).
func moeWidth(cfg *model.Config) (int, error) {
	var a struct {
		Width int `json:"moe_intermediate_size"`
	}
	err := cfg.Decode(&a)
	return a.Width, err
}

// shardConfig is the config one rank builds its part from: its heads, MLP
// width and experts' width (head_dim stays, set explicitly so that it is
// not derived anew from the fewer heads).
func shardConfig(cfg *model.Config, n int) (*model.Config, error) {
	lm := cfg.Language()
	forced := map[string]any{
		"num_attention_heads": lm.NumAttentionHeads / n,
		"num_key_value_heads": max(lm.NumKeyValueHeads/n, 1),
		"intermediate_size":   lm.IntermediateSize / n,
		"head_dim":            lm.HeadDim,
	}
	moe, err := moeWidth(lm)
	if err != nil {
		return nil, err
	}
	if moe > 0 {
		forced["moe_intermediate_size"] = moe / n
	}
	return cfg.With(forced)
}

// shard is the slice of one tensor a rank holds: piece `index` of `parts`
// equal pieces along axis. zeroOff: ranks other than 0 hold zeros (the bias
// of a layer whose output is summed over the ranks is added once).
type shard struct {
	axis, parts, index int
	zeroOff            bool
}

// shardRole is how tensor parallelism splits a projection.
type shardRole int

const (
	// splitOut splits the output rows (mlx-lm's "all-to-sharded").
	splitOut shardRole = iota
	// splitKV splits key/value rows by heads, repeating a head across
	// ranks when there are fewer heads than ranks.
	splitKV
	// splitIn splits the input columns ("sharded-to-all"); the output is
	// summed over the ranks, so its bias is added by rank 0 alone.
	splitIn
	// splitHeads splits a per-head tensor, heads first.
	splitHeads
)

// shardRule says how the tensors whose names match re are split. A
// Linear's tensors (weight, quantized scales and biases, and the experts'
// stacks of them) are [..., out, in], its bias [..., out]; fromEnd, when
// set, overrides that: the split axis counted from the last (1: the last).
type shardRule struct {
	re      *regexp.Regexp
	role    shardRole
	fromEnd int
}

// ffnPrefix matches a feed-forward's projections as checkpoints name them
// before and after sanitizing: a dense MLP's, a shared expert's, and each
// routed expert's, alone (experts.E.) or stacked (switch_mlp., experts.).
const ffnPrefix = `\.mlp\.(?:(?:shared_experts?|switch_mlp|experts(?:\.\d+)?)\.)?`

// shardRules are the tensors tensor parallelism splits.
var shardRules = []shardRule{
	{re: regexp.MustCompile(`\.self_attn\.(?:q|q_b|kv_b)_proj\.`), role: splitOut},
	{re: regexp.MustCompile(`\.self_attn\.[kv]_proj\.`), role: splitKV},
	{re: regexp.MustCompile(`\.self_attn\.o_proj\.`), role: splitIn},
	// DeepSeek's per-head maps from kv_b_proj (an MLX conversion stores them).
	{re: regexp.MustCompile(`\.self_attn\.(?:embed_q|unembed_out)\.`), role: splitHeads},
	// gpt-oss's per-head attention sinks.
	{re: regexp.MustCompile(`\.self_attn\.sinks$`), role: splitHeads},
	{re: regexp.MustCompile(ffnPrefix + `(?:gate|up)_proj\.`), role: splitOut},
	{re: regexp.MustCompile(ffnPrefix + `down_proj\.`), role: splitIn},
	// gpt-oss as OpenAI and transformers store it: gate and up interleaved
	// by rows (a rank's contiguous share holds its gate and up rows),
	// float [E, in, out] (x·W), or MXFP4 blocks [E, out, in/32, 16] and
	// scales [E, out, in/32].
	{re: regexp.MustCompile(`\.mlp\.experts\.gate_up_proj(?:_bias)?$`), role: splitOut, fromEnd: 1},
	{re: regexp.MustCompile(`\.mlp\.experts\.gate_up_proj_blocks$`), role: splitOut, fromEnd: 3},
	{re: regexp.MustCompile(`\.mlp\.experts\.gate_up_proj_scales$`), role: splitOut, fromEnd: 2},
	{re: regexp.MustCompile(`\.mlp\.experts\.down_proj(?:_blocks)?$`), role: splitIn, fromEnd: 2},
	{re: regexp.MustCompile(`\.mlp\.experts\.down_proj_scales$`), role: splitIn, fromEnd: 1},
	{re: regexp.MustCompile(`\.mlp\.experts\.down_proj_bias$`), role: splitIn},
}

// isBias reports whether name is a projection's bias (not a quantized
// weight's "biases").
func isBias(name string) bool {
	return strings.HasSuffix(name, ".bias") || strings.HasSuffix(name, "_bias")
}

// shardOf says how rank holds tensor name of ndim dimensions, if it is split.
func shardOf(name string, ndim int, cfg *model.Config, n, rank int) (shard, bool) {
	i := slices.IndexFunc(shardRules, func(r shardRule) bool { return r.re.MatchString(name) })
	if i < 0 {
		return shard{}, false
	}
	r := shardRules[i]
	s := shard{parts: n, index: rank}
	switch {
	case r.role == splitIn && isBias(name):
		return shard{zeroOff: true}, rank != 0
	case r.fromEnd > 0:
		s.axis = ndim - r.fromEnd
	case r.role == splitHeads:
		s.axis = 0
	case r.role == splitIn || isBias(name):
		s.axis = ndim - 1
	default:
		s.axis = ndim - 2
	}
	if nkv := cfg.NumKeyValueHeads; r.role == splitKV && nkv%n != 0 {
		// Fewer KV heads than ranks: each rank holds the one KV head its
		// query heads read (repeated across ranks, as GQA repeats it).
		s.parts, s.index = nkv, rank*nkv/n
	}
	return s, true
}

// readShards replaces every split tensor in weights (still lazy: nothing
// was read) with this rank's piece, read from its byte ranges in the file.
func readShards(headers []*model.Header, weights map[string]*metal.Array, cfg *model.Config, g *metal.Group) error {
	for _, h := range headers {
		var f *os.File
		for name, t := range h.Tensors {
			s, ok := shardOf(name, len(t.Shape), cfg, g.Size(), g.Rank())
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
