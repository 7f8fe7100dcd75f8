package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/internal/checkpoint"
	"github.com/lmx-app/lmx/internal/disttest"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// probe is what one process computes from a fixture for the comparison of a
// split model with the whole one.
type probe struct {
	// Refused is the reason the model was not split (then nothing else).
	Refused string
	// Logits of the three reference prompts, one pass without caches.
	Logits [3][]float32
	// Greedy: the greedy prompt prefilled in chunks of 3 through the
	// caches, then 12 greedy tokens; GreedyLogits are the last step's.
	Greedy       []int32
	GreedyLogits []float32
	// Batch: the three prompts as one left-padded batch, logits of every
	// real position of each row (empty when the caches refuse padding).
	Batch [][]float32
	// Resumed: the longest prompt's caches saved after 9 tokens and restored
	// into fresh caches that take the rest (the prefix cache's path); the
	// logits of the rest.
	Resumed []float32
	// Split is how the model was split ("tensor" or "pipeline"), and
	// Layers the rank's layers [start, stop) of a pipeline.
	Split  string
	Layers [2]int
}

// probeModel computes a probe of m (on the MLX thread through the helpers).
func probeModel(t *testing.T, m Model, ref *reference) probe {
	var p probe
	for i := range 3 {
		p.Logits[i] = logitsOf(t, m, ref.ints[name("input_ids", i)], nil)
	}
	prompt := ref.ints["greedy_prompt"]
	caches := mustCaches(t, m, CacheOptions{})
	var logits []float32
	for start := 0; start < len(prompt); start += 3 {
		logits = logitsOf(t, m, prompt[start:min(start+3, len(prompt))], caches)
	}
	vocab := len(p.Logits[0]) / len(ref.ints["input_ids_0"])
	for range 12 {
		next := argmaxLast(logits, vocab)
		p.Greedy = append(p.Greedy, next)
		logits = logitsOf(t, m, []int32{next}, caches)
	}
	p.GreedyLogits = logits
	p.Batch = batchLogits(t, m, ref, vocab)
	long := ref.ints["input_ids_2"]
	first := mustCaches(t, m, CacheOptions{})
	logitsOf(t, m, long[:9], first)
	resumed := mustCaches(t, m, CacheOptions{})
	mlxtest.Do(t, func() error {
		for i, c := range first {
			if err := resumed[i].Restore(c.State()); err != nil {
				return err
			}
		}
		return nil
	})
	p.Resumed = logitsOf(t, m, long[9:], resumed)
	return p
}

// mustCaches is newCaches that fails the test on error.
func mustCaches(t *testing.T, m Model, opts CacheOptions) []cache.Cache {
	c, err := newCaches(t, m, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// batchLogits runs the reference prompts as one left-padded batch; nil when
// the model's caches cannot pad.
func batchLogits(t *testing.T, m Model, ref *reference, vocab int) [][]float32 {
	prompts := [][]int32{ref.ints["input_ids_0"], ref.ints["input_ids_1"], ref.ints["input_ids_2"]}
	flat, pad, width := leftPadded(prompts)
	caches, err := newCaches(t, m, CacheOptions{LeftPad: pad})
	if errors.Is(err, ErrCacheOptions) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	mlxtest.Do(t, func() error {
		x := metal.FromInt32(flat, len(prompts), width)
		got, err = metal.Astype(m.Logits(m.Hidden(x, caches)), metal.Float32).Float32s()
		return err
	})
	rows := make([][]float32, len(prompts))
	for i := range prompts {
		rows[i] = got[(i*width+pad[i])*vocab : (i+1)*width*vocab]
	}
	return rows
}

// TestParallelMatchesOneProcess splits every fixture over 2 and 4
// processes of MLX's ring backend on localhost, the way LoadParallel
// chooses (tensor parallelism where the layers and head counts allow it,
// pipeline parallelism otherwise), and then once more by pipeline
// parallelism each fixture tensor parallelism split. Every rank's logits
// (one pass, chunked prefill + greedy decoding through the caches, a
// left-padded batch, caches saved and restored) must be within 1e-4 of one
// process's and its greedy tokens equal. A fixture may be refused only
// when no split into that many contiguous layer ranges exists (fewer layers
// than ranks, or Gemma 4's layers that reuse an earlier layer's keys and
// values leave too few places to cut), and then with ErrParallel; the
// pipeline's ranges must cover the layers in rank order.
func TestParallelMatchesOneProcess(t *testing.T) {
	mlxtest.Require(t)
	dirs := fixtureModels(t, "stories260k") // its reference has other prompts
	if _, ok := disttest.Rank(); ok {
		parallelRank(t, dirs)
		return
	}
	whole := map[string]probe{}
	layers, cuts := map[string]int{}, map[string]int{}
	for _, dir := range dirs {
		m := loadModel(t, dir)
		whole[dir] = probeModel(t, m, readReference(t, dir))
		layers[dir], cuts[dir] = m.NumLayers(), splitPoints(m)
	}
	for _, n := range []int{2, 4} {
		outs := disttest.Run(t, t.Name(), n, disttest.Deadline)
		runs := make([]parallelRun, n)
		for r, b := range outs {
			if err := json.Unmarshal(b, &runs[r]); err != nil {
				t.Fatalf("rank %d: %v", r, err)
			}
		}
		byKind := map[string][]string{}
		for _, dir := range dirs {
			base := filepath.Base(dir)
			// A split into n contiguous ranges needs n-1 places to cut.
			mustSplit := cuts[dir] >= n-1
			why := fmt.Sprintf("%d layers", layers[dir])
			if layers[dir] >= n {
				why += fmt.Sprintf(", %d places to cut (K/V shared across layers)", cuts[dir])
			}
			for _, pass := range []string{"chosen", "forced pipeline"} {
				if pass == "forced pipeline" && runs[0].Auto[dir].Split != string(TensorParallel) {
					continue
				}
				got := make([]probe, n)
				for r, run := range runs {
					results := run.Auto
					if pass == "forced pipeline" {
						results = run.Pipeline
					}
					p, ok := results[dir]
					if !ok {
						t.Errorf("%d ranks, %s split, rank %d: no result for %s", n, pass, r, base)
					}
					got[r] = p
				}
				kind := checkSplit(t, fmt.Sprintf("%d ranks, %s split, %s", n, pass, base), got, whole[dir], layers[dir], mustSplit)
				if kind == "refused" {
					kind += " (" + why + ")"
				}
				byKind[pass+": "+kind] = append(byKind[pass+": "+kind], base)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(byKind)) {
			t.Logf("%d ranks, %s: %s", n, k, strings.Join(byKind[k], ", "))
		}
	}
}

// splitPoints counts the places m's layers may be cut between pipeline
// ranks: between any two layers, except inside a span of Gemma 4 layers
// that reuse an earlier layer's keys and values (each must run where its
// source does).
func splitPoints(m Model) int {
	n := m.NumLayers() - 1
	if g, ok := m.(*Gemma4Text); ok {
		for i := 1; i < len(g.Layers); i++ {
			for _, l := range g.Layers[i:] {
				if l.Source < i {
					n--
					break
				}
			}
		}
	}
	return n
}

// checkSplit checks every rank's probe of one fixture split one way and
// returns how it was split ("tensor", "pipeline" or "refused"). A refusal
// fails the test when mustSplit; every rank must agree on the split, a
// pipeline's ranges must cover the layers in rank order, and every split
// rank's probe must match the whole model's.
func checkSplit(t *testing.T, what string, got []probe, want probe, layers int, mustSplit bool) string {
	t.Helper()
	kind := got[0].Split
	if got[0].Refused != "" {
		kind = "refused"
		if mustSplit {
			t.Errorf("%s: refused: %s", what, got[0].Refused)
		}
	}
	next := 0
	for r, p := range got {
		switch {
		case (p.Refused != "") != (kind == "refused") || (p.Refused == "" && p.Split != kind):
			t.Errorf("%s: rank %d split %q (refused: %q), rank 0 %q", what, r, p.Split, p.Refused, kind)
		case kind == "refused":
			if !strings.Contains(p.Refused, ErrParallel.Error()) {
				t.Errorf("%s: rank %d refused without ErrParallel: %s", what, r, p.Refused)
			}
			continue
		case kind == string(PipelineParallel):
			if p.Layers[0] != next || p.Layers[1] <= p.Layers[0] {
				t.Errorf("%s: rank %d runs layers %v, want a range from %d", what, r, p.Layers, next)
			}
			next = p.Layers[1]
		case kind != string(TensorParallel):
			t.Errorf("%s: rank %d: split %q", what, r, kind)
		}
		for _, msg := range compareProbes(p, want) {
			t.Errorf("%s, rank %d: %s", what, r, msg)
		}
	}
	if kind == string(PipelineParallel) && next != layers {
		t.Errorf("%s: the ranks' ranges end at layer %d of %d", what, next, layers)
	}
	if kind == string(PipelineParallel) {
		var sizes []int
		for _, p := range got {
			sizes = append(sizes, p.Layers[1]-p.Layers[0])
		}
		return fmt.Sprintf("%s %v", kind, sizes)
	}
	return kind
}

// parallelRun is what one rank computes: each fixture split the way
// LoadParallel chooses (Auto) and, for those it split by tensor
// parallelism, by pipeline parallelism (Pipeline).
type parallelRun struct {
	Auto, Pipeline map[string]probe
}

// parallelRank is one rank of TestParallelMatchesOneProcess.
func parallelRank(t *testing.T, dirs []string) {
	g := mlxtest.JoinRing(t)
	run := parallelRun{Auto: map[string]probe{}, Pipeline: map[string]probe{}}
	for _, dir := range dirs {
		run.Auto[dir] = splitProbe(t, g, dir, "")
		if run.Auto[dir].Split == string(TensorParallel) {
			run.Pipeline[dir] = splitProbe(t, g, dir, PipelineParallel)
		}
	}
	if err := disttest.Write(run); err != nil {
		t.Fatal(err)
	}
}

// splitProbe loads the rank's part of dir split as asked and probes it; a
// refusal (ErrParallel) is recorded, any other error fails the test.
func splitProbe(t *testing.T, g *metal.Group, dir string, split Split) probe {
	var m Model
	var err error
	mlxtest.Do(t, func() error {
		m, _, err = LoadParallel(dir, Parallel{Group: g, Split: split})
		return nil
	})
	if errors.Is(err, ErrParallel) {
		return probe{Refused: err.Error()}
	}
	if err != nil {
		t.Fatalf("%s, split %q: %v", filepath.Base(dir), split, err)
	}
	defer mlxtest.Do(t, func() error { FreeModel(m); return nil })
	p := probeModel(t, m, readReference(t, dir))
	p.Split = string(TensorParallel)
	if st := modelStage(m); st != nil {
		p.Split, p.Layers = string(PipelineParallel), [2]int{st.start, st.stop}
	}
	return p
}

// compareProbes lists how a split model's probe differs from the whole
// model's: logits beyond 1e-4 relative error, different greedy tokens.
func compareProbes(got, want probe) []string {
	var bad []string
	check := func(what string, g, w []float32) {
		if e := relErr(g, w); !(e <= 1e-4) {
			bad = append(bad, fmt.Sprintf("%s: relative error %.3g > 1e-4 (%d values, want %d)", what, e, len(g), len(w)))
		}
	}
	for i := range 3 {
		check(fmt.Sprintf("prompt %d logits", i), got.Logits[i], want.Logits[i])
	}
	if !slices.Equal(got.Greedy, want.Greedy) {
		bad = append(bad, fmt.Sprintf("greedy tokens %v, want %v", got.Greedy, want.Greedy))
	}
	check("last greedy step's logits", got.GreedyLogits, want.GreedyLogits)
	if len(got.Batch) != len(want.Batch) {
		bad = append(bad, fmt.Sprintf("%d batch rows, want %d", len(got.Batch), len(want.Batch)))
	}
	for i := range min(len(got.Batch), len(want.Batch)) {
		check(fmt.Sprintf("batch row %d", i), got.Batch[i], want.Batch[i])
	}
	check("logits after restored caches", got.Resumed, want.Resumed)
	return bad
}

// memoryCase is one load of TestParallelMemory: a fixture split one way.
type memoryCase struct {
	fixture string
	split   Split
}

// memoryCases are a dense fixture split by tensor parallelism and one split
// by pipeline parallelism (4 layers: 2 per rank).
var memoryCases = []memoryCase{{"qwen3", TensorParallel}, {"smollm3_h64", PipelineParallel}}

// memoryFigure is what a rank of TestParallelMemory measures of one case.
type memoryFigure struct {
	// Before and After are MLX's active memory before and after
	// LoadParallel (buffer cache cleared).
	Before, After int64
	Layers        [2]int
}

// TestParallelMemory loads, on 2 ranks, a dense fixture split by tensor
// parallelism and one split by pipeline parallelism, and checks the MLX
// memory each rank's model holds against what the safetensors headers say
// it should read: for tensor parallelism the replicated tensors (embeddings,
// norms, head) and half of each split projection, for pipeline parallelism
// the tensors of the rank's layers and all the tensors outside the layers.
// Each must be within 10%, and below what the whole model would hold by
// more than that (so a rank that read everything fails).
func TestParallelMemory(t *testing.T) {
	mlxtest.Require(t)
	const n = 2
	dirs := map[string]string{}
	for _, dir := range fixtureModels(t) {
		dirs[filepath.Base(dir)] = dir
	}
	for _, c := range memoryCases {
		if dirs[c.fixture] == "" {
			t.Fatalf("no fixture %s", c.fixture)
		}
	}
	if _, ok := disttest.Rank(); ok {
		memoryRank(t, dirs)
		return
	}
	outs := disttest.Run(t, t.Name(), n, disttest.Deadline)
	for r, b := range outs {
		var figs []memoryFigure
		if err := json.Unmarshal(b, &figs); err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
		if len(figs) != len(memoryCases) {
			t.Fatalf("rank %d: %d figures for %d cases", r, len(figs), len(memoryCases))
		}
		for i, c := range memoryCases {
			f := figs[i]
			want, total, layers := expectedBytes(t, dirs[c.fixture], c.split, r, n)
			if c.split == PipelineParallel && f.Layers != layers {
				t.Errorf("rank %d, %s: runs layers %v, want %v", r, c.fixture, f.Layers, layers)
			}
			got := f.After - f.Before
			e := math.Abs(float64(got)-float64(want)) / float64(want)
			t.Logf("rank %d, %s by %s: %d bytes held (active %d before, %d after), %d expected (%.1f%% off), whole model %d",
				r, c.fixture, c.split, got, f.Before, f.After, want, 100*e, total)
			switch {
			case want <= 0 || got <= 0 || !(e <= 0.10):
				t.Errorf("rank %d, %s by %s: %d bytes held, want %d ± 10%%", r, c.fixture, c.split, got, want)
			case !(float64(want)*1.1 < float64(total)):
				t.Errorf("rank %d, %s by %s: the expectation %d is within 10%% of the whole model's %d: the test does not tell them apart",
					r, c.fixture, c.split, want, total)
			}
		}
	}
}

// memoryRank is one rank of TestParallelMemory: each case loaded, measured
// and freed.
func memoryRank(t *testing.T, dirs map[string]string) {
	g := mlxtest.JoinRing(t)
	var figs []memoryFigure
	for _, c := range memoryCases {
		var f memoryFigure
		var m Model
		mlxtest.Do(t, func() error {
			metal.ClearCache()
			f.Before = metal.ActiveMemory()
			var err error
			if m, _, err = LoadParallel(dirs[c.fixture], Parallel{Group: g, Split: c.split}); err != nil {
				return err
			}
			metal.ClearCache()
			f.After = metal.ActiveMemory()
			if st := modelStage(m); st != nil {
				f.Layers = [2]int{st.start, st.stop}
			}
			return nil
		})
		if (modelStage(m) != nil) != (c.split == PipelineParallel) {
			t.Fatalf("%s: asked for %s, got a stage %v", c.fixture, c.split, modelStage(m))
		}
		mlxtest.Do(t, func() error { FreeModel(m); return nil })
		figs = append(figs, f)
	}
	if err := disttest.Write(figs); err != nil {
		t.Fatal(err)
	}
}

// expectedBytes is what rank of n should hold of dir's weights split the
// given way, from the safetensors headers alone, with the whole model's
// bytes and, for a pipeline, the rank's layers (an even split, the first
// ranks taking the extra layers).
func expectedBytes(t *testing.T, dir string, split Split, rank, n int) (want, total int64, layers [2]int) {
	headers, err := checkpoint.WeightHeaders(dir)
	if err != nil {
		t.Fatal(err)
	}
	layerOf := regexp.MustCompile(`(?:^|\.)layers\.(\d+)\.`)
	count := 0
	for _, h := range headers {
		for name := range h.Tensors {
			if m := layerOf.FindStringSubmatch(name); m != nil {
				i, _ := strconv.Atoi(m[1])
				count = max(count, i+1)
			}
		}
	}
	for r := range rank + 1 {
		size := count / n
		if r < count%n {
			size++
		}
		layers = [2]int{layers[1], layers[1] + size}
	}
	splitNames := []string{".q_proj.", ".k_proj.", ".v_proj.", ".o_proj.", ".gate_proj.", ".up_proj.", ".down_proj."}
	for _, h := range headers {
		for name, ti := range h.Tensors {
			b := ti.Offsets[1] - ti.Offsets[0]
			total += b
			switch m := layerOf.FindStringSubmatch(name); {
			case split == TensorParallel && slices.ContainsFunc(splitNames, func(s string) bool { return strings.Contains(name, s) }):
				want += b / int64(n)
			case split == PipelineParallel && m != nil:
				if i, _ := strconv.Atoi(m[1]); i >= layers[0] && i < layers[1] {
					want += b
				}
			default:
				want += b
			}
		}
	}
	return want, total, layers
}
