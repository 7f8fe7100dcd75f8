package cache

import (
	"errors"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// maskValues reads a mask back: its mode and, for an array mask, its
// values as 0/1 with its shape.
func maskValues(t *testing.T, m Mask) (string, []int32, []int) {
	t.Helper()
	if m.Array == nil {
		return m.Mode, nil, nil
	}
	v, err := metal.Astype(m.Array, metal.Int32).Int32s()
	if err != nil {
		t.Fatal(err)
	}
	return m.Mode, v, m.Array.Shape()
}

// int32s reads an int32 array.
func int32s(t *testing.T, a *metal.Array) []int32 {
	t.Helper()
	v, err := a.Int32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A stand-in cache advanced alongside a KV cache has the KV cache's
// position, offsets and masks (with and without padding and a window)
// at every step, trims as it does, holds nothing, and keeps its position
// and padding through State and Restore.
func TestSkipFollowsKV(t *testing.T) {
	mlxtest.Require(t)
	for _, pad := range [][]int{nil, {2, 0}} {
		mlxtest.Do(t, func() error {
			batch := max(len(pad), 1)
			kv, skip := NewKV(pad), NewSkip(pad)
			defer kv.Free()
			defer skip.Free()
			check := func(when string) {
				if kv.Offset() != skip.Offset() {
					t.Errorf("pad %v, %s: offset %d, KV's %d", pad, when, skip.Offset(), kv.Offset())
				}
				if got, want := int32s(t, skip.Offsets()), int32s(t, kv.Offsets()); !slices.Equal(got, want) {
					t.Errorf("pad %v, %s: offsets %v, KV's %v", pad, when, got, want)
				}
				for _, n := range []int{1, 3} {
					for _, window := range []int{0, 4} {
						gm, gv, gs := maskValues(t, skip.MakeMask(n, window))
						wm, wv, ws := maskValues(t, kv.MakeMask(n, window))
						if gm != wm || !slices.Equal(gv, wv) || !slices.Equal(gs, ws) {
							t.Errorf("pad %v, %s: mask of %d tokens, window %d: %q %v %v, KV's %q %v %v",
								pad, when, n, window, gm, gs, gv, wm, ws, wv)
						}
					}
				}
				if skip.Bytes() != 0 {
					t.Errorf("pad %v, %s: a stand-in holds %d bytes", pad, when, skip.Bytes())
				}
			}
			check("empty")
			for _, n := range []int{3, 1, 2} {
				k := metal.Zeros([]int{batch, 1, n, 2}, metal.Float32)
				kv.Update(k, k)
				skip.Advance(n)
				check("after " + string(rune('0'+n)) + " tokens")
			}
			if got, want := skip.Trim(2), kv.Trim(2); got != want {
				t.Errorf("pad %v: trim 2 dropped %d, KV %d", pad, got, want)
			}
			check("trimmed")
			if got := skip.Trim(100); got != 4 || skip.Offset() != 0 {
				t.Errorf("pad %v: trim 100 from 4 dropped %d, offset %d", pad, got, skip.Offset())
			}
			skip.Advance(4)
			st := skip.State()
			if len(st.Arrays) != 0 {
				t.Errorf("pad %v: state has %d arrays", pad, len(st.Arrays))
			}
			r := NewSkip(nil)
			if err := r.Restore(st); err != nil {
				return err
			}
			check("restored") // kv is at 4 too
			if r.Offset() != 4 || !slices.Equal(int32s(t, r.Offsets()), int32s(t, kv.Offsets())) {
				t.Errorf("pad %v: restored offset %d, offsets %v; want 4, %v", pad, r.Offset(),
					int32s(t, r.Offsets()), int32s(t, kv.Offsets()))
			}
			if pad == nil && r.leftPad != nil {
				t.Errorf("restored padding %v, want none", r.leftPad)
			}
			return nil
		})
	}
}

// A stand-in refuses states that are not its own, cannot attend, and goes
// back to position 0 when freed.
func TestSkipRefuses(t *testing.T) {
	mlxtest.Require(t)
	mlxtest.Do(t, func() error {
		c := NewSkip(nil)
		for _, st := range []State{{}, {Meta: []int{-1}}, {Arrays: []*metal.Array{metal.Zeros([]int{1, 1, 1, 1}, metal.Float32)}, Meta: []int{1}}} {
			if err := c.Restore(st); !errors.Is(err, ErrBadState) {
				t.Errorf("restore %+v: %v, want ErrBadState", st, err)
			}
		}
		kv := NewKV(nil)
		defer kv.Free()
		k := metal.Zeros([]int{1, 1, 2, 2}, metal.Float32)
		kv.Update(k, k)
		if err := c.Restore(kv.State()); !errors.Is(err, ErrBadState) {
			t.Errorf("restore of a KV state: %v, want ErrBadState", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("Update of a stand-in did not panic")
				}
			}()
			c.Update(k, k)
		}()
		c.Advance(5)
		c.Free()
		if c.Offset() != 0 {
			t.Errorf("freed stand-in at %d", c.Offset())
		}
		return nil
	})
}
