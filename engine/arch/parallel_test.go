package arch

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
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
	// ActiveBytes is MLX's active memory with the model loaded (weights).
	ActiveBytes uint64
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
	width := 0
	for _, p := range prompts {
		width = max(width, len(p))
	}
	pad, flat := make([]int, len(prompts)), []int32{}
	for i, p := range prompts {
		pad[i] = width - len(p)
		flat = append(flat, make([]int32, pad[i])...)
		flat = append(flat, p...)
	}
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

// TestTensorParallelMatchesOneProcess splits every fixture over 2 and 4
// processes of MLX's ring backend on localhost: each rank reads only its
// heads and MLP columns, and every rank's logits (one pass, chunked
// prefill + greedy decoding through the caches, a left-padded batch, caches
// saved and restored) must be within 1e-4 of one process's and its greedy
// tokens equal. A fixture the split refuses must be refused with
// ErrParallel (its heads do not divide, or its layers are not the standard
// decoder's), and the fixtures with plain Llama-style layers must split.
func TestTensorParallelMatchesOneProcess(t *testing.T) {
	mlxtest.Require(t)
	dirs := fixtureModels(t, "stories260k") // its reference has other prompts
	if _, ok := disttest.Rank(); ok {
		parallelRank(t, dirs)
		return
	}
	whole := map[string]probe{}
	for _, dir := range dirs {
		m := loadModel(t, dir)
		whole[dir] = probeModel(t, m, readReference(t, dir))
	}
	for _, n := range []int{2, 4} {
		outs := disttest.Run(t, t.Name(), n, disttest.Deadline)
		split := 0
		for r, b := range outs {
			var got map[string]probe
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("rank %d: %v", r, err)
			}
			for _, dir := range dirs {
				p, ok := got[dir]
				switch {
				case !ok:
					t.Errorf("%d ranks, rank %d: no result for %s", n, r, filepath.Base(dir))
				case p.Refused != "":
					if r == 0 {
						t.Logf("%d ranks: %s not split: %s", n, filepath.Base(dir), p.Refused)
					}
				default:
					split += min(r, 1) ^ 1
					for _, msg := range compareProbes(p, whole[dir]) {
						t.Errorf("%d ranks, rank %d, %s: %s", n, r, filepath.Base(dir), msg)
					}
				}
			}
		}
		t.Logf("%d ranks: %d of %d fixtures split by tensor parallelism", n, split, len(dirs))
		if split == 0 {
			t.Errorf("%d ranks: no fixture was split", n)
		}
	}
}

// parallelRank is one rank of TestTensorParallelMatchesOneProcess.
func parallelRank(t *testing.T, dirs []string) {
	var g *metal.Group
	mlxtest.Do(t, func() error {
		var err error
		g, err = metal.DistInit("ring")
		return err
	})
	out := map[string]probe{}
	for _, dir := range dirs {
		var m Model
		var err error
		mlxtest.Do(t, func() error {
			m, _, err = LoadParallel(dir, Parallel{Group: g})
			return nil
		})
		if errors.Is(err, ErrParallel) {
			out[dir] = probe{Refused: err.Error()}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(dir), err)
		}
		out[dir] = probeModel(t, m, readReference(t, dir))
		mlxtest.Do(t, func() error { FreeModel(m); return nil })
	}
	if err := disttest.Write(out); err != nil {
		t.Fatal(err)
	}
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
