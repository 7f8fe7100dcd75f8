package cache

import (
	"errors"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// A state cache saves and restores its arrays and offset, cannot be
// trimmed, refuses a state of the wrong shape, and reports its offsets
// minus each sequence's left padding.
func TestRecurrentStateRoundTrip(t *testing.T) {
	mlxtest.Require(t)
	mlxtest.Do(t, func() error {
		c := NewRecurrent(2, nil)
		defer c.Free()
		if st := c.State(); len(st.Arrays) != 0 {
			t.Errorf("empty cache has state %+v", st)
		}
		c.Set(0, metal.FromFloat32([]float32{1, 2, 3, 4}, 1, 2, 2))
		c.Advance(3)
		if st := c.State(); len(st.Arrays) != 0 {
			t.Errorf("partly filled cache has state %+v", st)
		}
		c.Set(1, metal.FromFloat32([]float32{5, 6}, 1, 2))
		c.Advance(2)
		if got := c.Trim(1); got != 0 || c.Offset() != 5 {
			t.Errorf("Trim(1) dropped %d, offset %d: a state cannot be rewound", got, c.Offset())
		}
		st := c.State()
		d := NewRecurrent(2, nil)
		defer d.Free()
		if err := d.Restore(st); err != nil {
			t.Fatal(err)
		}
		if d.Offset() != 5 || d.Bytes() != c.Bytes() {
			t.Errorf("restored offset %d, bytes %d; want 5, %d", d.Offset(), d.Bytes(), c.Bytes())
		}
		got, err := d.Get(1).Float32s()
		if err != nil {
			return err
		}
		if !slices.Equal(got, []float32{5, 6}) {
			t.Errorf("restored state %v", got)
		}
		if err := NewRecurrent(1, nil).Restore(st); !errors.Is(err, ErrBadState) {
			t.Errorf("two arrays into a one-array cache: %v, want ErrBadState", err)
		}
		if err := d.Restore(State{}); !errors.Is(err, ErrBadState) {
			t.Errorf("empty state: %v, want ErrBadState", err)
		}
		return nil
	})
}

// With left padding the mask is false at each sequence's padded positions,
// and the offsets count from the first real token.
func TestRecurrentPaddingMask(t *testing.T) {
	mlxtest.Require(t)
	mlxtest.Do(t, func() error {
		c := NewRecurrent(1, []int{2, 0})
		defer c.Free()
		m := c.MakeMask(3, 0)
		if m.Mode != "array" {
			t.Fatalf("mask mode %q, want array", m.Mode)
		}
		got, err := metal.Astype(m.Array, metal.Int32).Int32s()
		if err != nil {
			return err
		}
		if want := []int32{0, 0, 1, 1, 1, 1}; !slices.Equal(got, want) {
			t.Errorf("mask %v, want %v", got, want)
		}
		c.Advance(3)
		off, err := c.Offsets().Int32s()
		if err != nil {
			return err
		}
		if !slices.Equal(off, []int32{1, 3}) {
			t.Errorf("offsets %v, want [1 3]", off)
		}
		if NewRecurrent(1, nil).MakeMask(4, 0).Mode != "" {
			t.Error("a cache without padding needs no mask")
		}
		if !HasState([]Cache{NewKV(nil), NewRows([]Cache{NewRecurrent(1, nil)})}) || HasState([]Cache{NewKV(nil)}) {
			t.Error("HasState does not find state caches (in Rows too) or finds one in a KV cache")
		}
		return nil
	})
}
