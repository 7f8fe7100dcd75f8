package cache

import (
	"errors"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// floats reads an array back as float32.
func floats(t *testing.T, a *metal.Array) []float32 {
	t.Helper()
	v, err := metal.Astype(a, metal.Float32).Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A layer reading another layer's cache through a Shared attends exactly as
// a layer holding its own copy of the same keys and values (what LMX did
// before): for standard, rotating (wrapping past its window, several
// tokens at once and one at a time) and quantized sources, alone and as
// rows of a batch, where each row's mask is asked after the source has
// run. It holds nothing and changes nothing of its source.
func TestSharedAttendsLikeACopy(t *testing.T) {
	mlxtest.Require(t)
	const heads, kvHeads, dim = 4, 2, 32
	tests := []struct {
		name   string
		make   func() Cache
		window int
	}{
		{"kv", func() Cache { return NewKV(nil) }, 0},
		{"kv window", func() Cache { return NewKV(nil) }, 4},
		{"rotating", func() Cache { return NewRotating(6, 0) }, 6},
		{"quantized", func() Cache { return NewQuantized(32, 8) }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mlxtest.Do(t, func() error {
				seed := uint64(7)
				rand := func(shape ...int) *metal.Array {
					seed++
					u := metal.RandomUniform(shape, metal.Float32, metal.RandomKey(seed))
					return metal.AddScalar(metal.MulScalar(u, 2), -1)
				}
				var sources, shared, copies []Cache
				for range 2 {
					src, cp := tt.make(), tt.make()
					sh, err := NewShared(src)
					if err != nil {
						return err
					}
					sources, shared, copies = append(sources, src), append(shared, sh), append(copies, cp)
				}
				defer func() {
					for _, c := range append(append(sources, shared...), copies...) {
						c.Free()
					}
				}()
				for step, n := range []int{1, 1, 5, 3, 1, 2, 1, 4} {
					k, v := rand(2, kvHeads, n, dim), rand(2, kvHeads, n, dim)
					q, q2 := rand(2, heads, n, dim), rand(2, heads, n, dim)
					// The source layer, then the shared one reading it; the
					// copy takes the same keys and values itself.
					src, sh, cp := NewRows(sources), NewRows(shared), NewRows(copies)
					srcMask, cpMask := src.MakeMask(n, tt.window), cp.MakeMask(n, tt.window)
					_ = Attention(src, q, k, v, 0.2, srcMask)
					got := Attention(sh, q2, nil, nil, 0.2, sh.MakeMask(n, tt.window))
					want := Attention(cp, q2, k, v, 0.2, cpMask)
					if e := testutil.RelErr(floats(t, got), floats(t, want)); e > 1e-6 {
						t.Errorf("step %d (%d tokens): shared layer off its copy by %.3g", step, n, e)
					}
					for i := range shared {
						if shared[i].Offset() != copies[i].Offset() || shared[i].Bytes() != 0 {
							t.Errorf("step %d, row %d: offset %d (copy %d), %d bytes", step, i, shared[i].Offset(), copies[i].Offset(), shared[i].Bytes())
						}
					}
				}
				// Saving, restoring, trimming and freeing belong to the source.
				before := sources[0].Offset()
				sh := shared[0]
				if sh.Trim(2) != 0 || len(sh.State().Arrays) != 0 || sh.Restore(State{}) != nil {
					t.Error("a shared cache trims, saves or restores something")
				}
				if err := sh.Restore(sources[0].State()); !errors.Is(err, ErrBadState) {
					t.Errorf("restoring a source's state into a shared cache: %v, want ErrBadState", err)
				}
				sh.Free()
				if sources[0].Offset() != before || sources[0].Bytes() == 0 {
					t.Errorf("the source changed with its shared cache: offset %d, was %d", sources[0].Offset(), before)
				}
				return nil
			})
		})
	}
}

// A Shared over a left-padded batch cache makes, once the source has taken
// the new positions, the mask the source made before (padding and window
// hidden), and takes the source's offsets.
func TestSharedMaskFollowsPaddedSource(t *testing.T) {
	mlxtest.Require(t)
	mlxtest.Do(t, func() error {
		pad := []int{2, 0}
		src := NewKV(pad)
		defer src.Free()
		sh, err := NewShared(src)
		if err != nil {
			return err
		}
		for _, n := range []int{4, 1, 3} {
			for _, window := range []int{0, 3} {
				wm, wv, ws := maskValues(t, src.MakeMask(n, window))
				src.Update(positions(0, n), positions(0, n))
				gm, gv, gs := maskValues(t, sh.MakeMask(n, window))
				if gm != wm || !slices.Equal(gv, wv) || !slices.Equal(gs, ws) {
					t.Errorf("%d tokens, window %d: %q %v %v, the source's %q %v %v", n, window, gm, gv, gs, wm, wv, ws)
				}
				src.Trim(n)
			}
			src.Update(positions(0, n), positions(0, n))
			if got, want := int32s(t, sh.Offsets()), int32s(t, src.Offsets()); !slices.Equal(got, want) {
				t.Errorf("offsets %v, the source's %v", got, want)
			}
		}
		return nil
	})
}

// Only a cache that keeps its keys and values can be read by a shared layer.
func TestNewSharedRefusesStateCaches(t *testing.T) {
	for _, c := range []Cache{NewSkip(nil), NewRecurrent(2, nil), NewRows(nil)} {
		if _, err := NewShared(c); err == nil {
			t.Errorf("a shared layer reading a %T: no error", c)
		}
	}
}
