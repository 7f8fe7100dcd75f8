package arch

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// stage is one rank's part of a pipeline-parallel model (mlx-lm's
// pipeline()): a contiguous range of layers, rank 0 the first. Rank 0
// embeds the tokens; every other rank receives the hidden states from the
// rank before it; each runs its layers and sends its output on; then every
// rank takes the last rank's output through an all_gather, so that all
// compute the same logits. Only neighbours (rank±1) talk, as the ring
// backend requires. A nil stage is the whole model.
type stage struct {
	g *metal.Group
	// start and stop bound the layers the rank runs: [start, stop).
	start, stop int
}

// owns reports whether the rank runs layer i.
func (s *stage) owns(i int) bool {
	return s == nil || (i >= s.start && i < s.stop)
}

// first is the first layer the rank runs, whose cache gives the positions.
func (s *stage) first() int {
	if s == nil {
		return 0
	}
	return s.start
}

// pick returns idx without a stage, otherwise the first layer the rank
// runs for which want holds (-1: none), among n layers.
func (s *stage) pick(idx, n int, want func(i int) bool) int {
	if s == nil {
		return idx
	}
	for i := s.start; i < min(s.stop, n); i++ {
		if want(i) {
			return i
		}
	}
	return -1
}

// enter returns the hidden states the rank's first layer takes: h (the
// embeddings) on rank 0, what the previous rank sends on the others (h
// gives the shape and dtype).
func (s *stage) enter(h *metal.Array) *metal.Array {
	if s == nil || s.g.Rank() == 0 {
		return h
	}
	return metal.Recv(h.Shape(), h.Dtype(), s.g.Rank()-1, s.g)
}

// leave sends the rank's output h on to the next rank and returns the last
// rank's output, the same bytes on every rank.
func (s *stage) leave(h *metal.Array) *metal.Array {
	if s == nil {
		return h
	}
	r, n := s.g.Rank(), s.g.Size()
	if r < n-1 {
		// The send happens when its result is evaluated: the all_gather
		// below depends on it.
		h = metal.Send(h, r+1, s.g)
	}
	all := metal.AllGather(h, s.g) // [n·B, ...], rank order
	shape := all.Shape()
	if len(shape) == 0 { // an earlier op failed: the sticky error reports it
		return all
	}
	b := shape[0] / n
	start := make([]int, len(shape))
	start[0] = (n - 1) * b
	return metal.Slice(all, start, shape)
}

// skip advances the stand-in cache c of a layer the rank does not run by n
// new positions (nil: no caches).
func (s *stage) skip(c cache.Cache, n int) {
	switch c := c.(type) {
	case nil:
	case *cache.Skip:
		c.Advance(n)
	case *cache.Rows:
		for _, r := range c.Seqs() {
			s.skip(r, n)
		}
	default:
		panic(fmt.Sprintf("arch: this rank runs layers %d-%d, and another layer's cache is a %T, not the stand-in its NewCaches gives",
			s.start, s.stop-1, c))
	}
}

// caches replaces the caches of the layers the rank does not run with
// stand-ins that only keep the position (freeing the real ones).
func (s *stage) caches(cs []cache.Cache, opts CacheOptions, err error) ([]cache.Cache, error) {
	if s == nil || err != nil {
		return cs, err
	}
	for i, c := range cs {
		if !s.owns(i) {
			c.Free()
			cs[i] = cache.NewSkip(opts.LeftPad)
		}
	}
	return cs, nil
}

// stageOf returns where m keeps its stage; nil when m's architecture has
// no pipelined Hidden. The types are listed, not found through an
// interface, so that a new wrapper of Decoder with a Hidden of its own is
// refused until its Hidden runs the stage.
func stageOf(m Model) **stage {
	switch m := m.(type) {
	case *Decoder:
		return &m.stage
	case *Gemma4Text:
		return &m.stage
	case *GptOss:
		return &m.stage
	case *MLADecoder:
		return &m.stage
	case *Lfm2:
		return &m.stage
	case *HybridModel:
		return &m.stage
	}
	return nil
}

// Pipelined reports whether m is one rank's part of a pipeline (its caches
// for the other ranks' layers are stand-ins, so they differ from rank to
// rank).
func Pipelined(m Model) bool { return modelStage(m) != nil }

// modelStage returns m's stage: nil when m runs all its layers.
func modelStage(m Model) *stage {
	if p := stageOf(m); p != nil {
		return *p
	}
	return nil
}

// pipelineCuts returns where whole's layers may be split: cut(i) reports
// whether layer i may start a rank's range. A Gemma 4 layer that reuses
// an earlier layer's keys and values must run on the rank of that layer.
func pipelineCuts(whole Model) func(i int) bool {
	g, ok := whole.(*Gemma4Text)
	if !ok {
		return func(int) bool { return true }
	}
	return func(i int) bool {
		for j := i; j < len(g.Layers); j++ {
			if g.Layers[j].Source < i {
				return false
			}
		}
		return true
	}
}

// pipelineRanges splits n layers over size ranks into contiguous ranges,
// rank 0 the first, each starting where cut allows: the largest range as
// small as it can be, then the sizes as even as they can be (earlier ranks
// take the extra layers). ok is false when no split exists.
func pipelineRanges(n, size int, cut func(i int) bool) (ranges [][2]int, ok bool) {
	if size < 1 || n < size {
		return nil, false
	}
	allowed := func(i int) bool { return i == 0 || i == n || cut(i) }
	const inf = int(^uint(0) >> 1)
	for limit := (n + size - 1) / size; limit <= n; limit++ {
		// cost[k][j]: the least sum of squared sizes of k ranges covering
		// layers [0, j), each at most limit; from[k][j] the last range's start.
		cost := make([][]int, size+1)
		from := make([][]int, size+1)
		for k := range cost {
			cost[k], from[k] = make([]int, n+1), make([]int, n+1)
			for j := range cost[k] {
				cost[k][j] = inf
			}
		}
		cost[0][0] = 0
		for k := 1; k <= size; k++ {
			for j := 1; j <= n; j++ {
				if !allowed(j) {
					continue
				}
				// Later starts first: on a tie the earlier ranges stay longer.
				for p := j - 1; p >= max(0, j-limit); p-- {
					if cost[k-1][p] == inf || !allowed(p) {
						continue
					}
					if c := cost[k-1][p] + (j-p)*(j-p); c < cost[k][j] {
						cost[k][j], from[k][j] = c, p
					}
				}
			}
		}
		if cost[size][n] == inf {
			continue
		}
		ranges = make([][2]int, size)
		for k, j := size, n; k > 0; k-- {
			ranges[k-1] = [2]int{from[k][j], j}
			j = from[k][j]
		}
		return ranges, true
	}
	return nil, false
}

// planPipeline chooses rank's layers of whole over the group.
func planPipeline(whole Model, modelType string, g *metal.Group) (*stage, error) {
	n, size := whole.NumLayers(), g.Size()
	if stageOf(whole) == nil {
		return nil, fmt.Errorf("%w: %s: pipeline parallelism does not know this architecture's layers", ErrParallel, modelType)
	}
	if n < size {
		return nil, fmt.Errorf("%w: %s has %d layers, fewer than the %d ranks (pipeline parallelism gives each rank at least one)",
			ErrParallel, modelType, n, size)
	}
	ranges, ok := pipelineRanges(n, size, pipelineCuts(whole))
	if !ok {
		return nil, fmt.Errorf("%w: %s: no split of its %d layers over %d ranks keeps every layer that reuses another's keys and values on that layer's rank",
			ErrParallel, modelType, n, size)
	}
	r := ranges[g.Rank()]
	return &stage{g: g, start: r[0], stop: r[1]}, nil
}

// layerName finds the decoder layer a tensor belongs to ("layers.<i>.").
var layerName = regexp.MustCompile(`(?:^|\.)layers\.(\d+)\.`)

// standIns replaces every tensor of a layer st does not run with a
// stand-in of its shape and dtype that costs one element (a broadcast
// zero): the constructors' shape checks pass and the layer's bytes are
// never read.
func standIns(weights map[string]*metal.Array, st *stage) {
	for name, a := range weights {
		m := layerName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if i, err := strconv.Atoi(m[1]); err != nil || st.owns(i) {
			continue
		}
		weights[name] = metal.BroadcastTo(metal.Zeros([]int{}, a.Dtype()), a.Shape()...)
	}
}

// buildPipeline is Build for one stage: the tensors of the layers the rank
// does not run become stand-ins before sanitizing and again after it (what
// a sanitizer made of them, a stack of experts, a split projection, is
// replaced too, so it is never computed); then the model is built, runs
// only its stage, and is evaluated and kept (reading only its layers and
// the tensors outside the layers).
func buildPipeline(cfg *model.Config, weights map[string]*metal.Array, st *stage) (Model, error) {
	a, err := Lookup(cfg.ModelType)
	if err != nil {
		return nil, err
	}
	standIns(weights, st)
	if err := a.Sanitize(cfg, weights); err != nil {
		return nil, fmt.Errorf("sanitize weights: %w", err)
	}
	standIns(weights, st)
	w := newWeights(a, weights, cfg.Quantization)
	m, err := a.New(cfg, w)
	if err != nil {
		return nil, err
	}
	if err := w.Err(true); err != nil {
		return nil, fmt.Errorf("load %s weights: %w", cfg.ModelType, err)
	}
	p := stageOf(m)
	if p == nil {
		return nil, fmt.Errorf("%w: %s: pipeline parallelism does not know this architecture's layers", ErrParallel, cfg.ModelType)
	}
	*p = st
	return m, evalKeep(m)
}
