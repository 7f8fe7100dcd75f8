package arch

import (
	"errors"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/metal"
)

// newCaches makes caches for m on the MLX thread, freeing them at cleanup.
func newCaches(t *testing.T, m Model, opts CacheOptions) ([]cache.Cache, error) {
	var caches []cache.Cache
	var err error
	mlxtest.Do(t, func() error {
		caches, err = m.NewCaches(opts)
		return nil
	})
	t.Cleanup(func() {
		mlxtest.Do(t, func() error {
			for _, c := range caches {
				c.Free()
			}
			return nil
		})
	})
	return caches, err
}

// TestFixtureChunkedPrefill feeds the 23-token prompt through the caches in
// chunks of 5 (crossing gemma3's window of 8 inside the rotating cache) and
// compares each chunk's logits with the reference rows.
func TestFixtureChunkedPrefill(t *testing.T) {
	mlxtest.Require(t)
	for _, dir := range fixtureModels(t, "stories260k") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadModel(t, dir)
			ref := readReference(t, dir)
			ids, want := ref.ints["input_ids_2"], ref.floats["logits_2"]
			vocab := len(want) / len(ids)
			caches, err := newCaches(t, m, CacheOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for start := 0; start < len(ids); start += 5 {
				end := min(start+5, len(ids))
				got := logitsOf(t, m, ids[start:end], caches)
				if e := relErr(got, want[start*vocab:end*vocab]); e > 1e-4 {
					t.Errorf("positions [%d, %d): relative error %.3g > 1e-4", start, end, e)
				}
			}
		})
	}
}

// TestFixtureBatch runs the three reference prompts (lengths 1, 5, 23) as one
// left-padded batch and compares each row with the single-prompt reference.
func TestFixtureBatch(t *testing.T) {
	mlxtest.Require(t)
	for _, dir := range fixtureModels(t, "stories260k") {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m := loadModel(t, dir)
			ref := readReference(t, dir)
			prompts := [][]int32{ref.ints["input_ids_0"], ref.ints["input_ids_1"], ref.ints["input_ids_2"]}
			flat, pad, width := leftPadded(prompts)
			caches, err := newCaches(t, m, CacheOptions{LeftPad: pad})
			if errors.Is(err, ErrCacheOptions) {
				t.Skipf("batching with left padding needs standard caches: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []float32
			mlxtest.Do(t, func() error {
				x := metal.FromInt32(flat, len(prompts), width)
				got, err = m.Logits(m.Hidden(x, caches)).Float32s()
				return err
			})
			for i, p := range prompts {
				want := ref.floats[name("logits", i)]
				vocab := len(want) / len(p)
				row := got[(i*width+pad[i])*vocab : (i+1)*width*vocab]
				if e := relErr(row, want); e > 1e-4 {
					t.Errorf("row %d (%d tokens, %d padding): relative error %.3g > 1e-4", i, len(p), pad[i], e)
				}
			}
		})
	}
}

func TestStoriesPromptLogits(t *testing.T) {
	mlxtest.Require(t)
	dir := filepath.Join(fixtureModels(t)[0], "..", "stories260k")
	m := loadModel(t, dir)
	ref := readReference(t, dir)
	got := logitsOf(t, m, ref.ints["prompt_ids"], nil)
	if e := relErr(got, ref.floats["prompt_logits"]); e > 1e-4 {
		t.Errorf("relative error %.3g > 1e-4", e)
	}
}

// leftPadded lays prompts out as one batch [B, width] padded on the left
// with id 0, and returns each row's padding.
func leftPadded(prompts [][]int32) (flat []int32, pad []int, width int) {
	for _, p := range prompts {
		width = max(width, len(p))
	}
	pad = make([]int, len(prompts))
	for i, p := range prompts {
		pad[i] = width - len(p)
		flat = append(flat, make([]int32, pad[i])...)
		flat = append(flat, p...)
	}
	return flat, pad, width
}
