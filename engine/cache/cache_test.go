package cache

import (
	"github.com/lmx-app/lmx/internal/mlxtest"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/metal"
)

// positions returns k [1, 1, n, 2] whose rows hold their position p as (p, -p).
func positions(start, n int) *metal.Array {
	data := make([]float32, 0, 2*n)
	for p := start; p < start+n; p++ {
		data = append(data, float32(p), float32(-p))
	}
	return metal.FromFloat32(data, 1, 1, n, 2)
}

// rowPositions reads back the positions stored in keys [1, 1, L, 2].
func rowPositions(t *testing.T, keys *metal.Array) []int {
	v, err := keys.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int, 0, len(v)/2)
	for i := 0; i < len(v); i += 2 {
		out = append(out, int(v[i]))
	}
	return out
}

func seq(a, b int) []int {
	var out []int
	for i := a; i < b; i++ {
		out = append(out, i)
	}
	return out
}

func TestKVGrowsTrimsRestores(t *testing.T) {
	mlxtest.Do(t, func() error {
		c := NewKV(nil)
		defer c.Free()
		var keys *metal.Array
		for start := 0; start < 300; start += 100 {
			keys, _ = c.Update(positions(start, 100), positions(start, 100))
		}
		if got := rowPositions(t, keys); !slices.Equal(got, seq(0, 300)) || c.Offset() != 300 {
			t.Errorf("after 300 positions: offset %d, keys %v...", c.Offset(), got[:5])
		}
		// Like mlx-lm: 256 positions for the first 100, then the 200 filled
		// ones plus another step of 256 when 300 no longer fit.
		if c.Bytes() != 2*(200+256)*2*4 {
			t.Errorf("%d bytes, want two buffers of 456 positions", c.Bytes())
		}
		if n := c.Trim(5); n != 5 || c.Offset() != 295 {
			t.Errorf("trim 5: trimmed %d, offset %d", n, c.Offset())
		}
		keys, _ = c.Update(positions(1000, 1), positions(1000, 1))
		if got := rowPositions(t, keys); len(got) != 296 || got[294] != 294 || got[295] != 1000 {
			t.Errorf("update after trim: %d rows, last %v", len(got), got[293:])
		}
		r := NewKV(nil)
		defer r.Free()
		if err := r.Restore(c.State()); err != nil {
			return err
		}
		keys, _ = r.Update(positions(2000, 1), positions(2000, 1))
		if got := rowPositions(t, keys); r.Offset() != 297 || got[295] != 1000 || got[296] != 2000 {
			t.Errorf("restored cache: offset %d, tail %v", r.Offset(), got[290:])
		}
		return nil
	})
}

func TestRotatingStaysBounded(t *testing.T) {
	tests := []struct {
		name      string
		maxSize   int
		keep      int
		prefill   int
		wantAfter []int // positions held after 20 single-token steps, as a set
	}{
		{"window", 8, 0, 3, seq(15, 23)},
		{"keep first four", 8, 4, 3, append(seq(0, 4), seq(19, 23)...)},
		{"long prefill", 8, 0, 12, seq(24, 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mlxtest.Do(t, func() error {
				c := NewRotating(tt.maxSize, tt.keep)
				defer c.Free()
				keys, _ := c.Update(positions(0, tt.prefill), positions(0, tt.prefill))
				if keys.Dim(2) != tt.prefill {
					t.Errorf("prefill returned %d keys, want %d", keys.Dim(2), tt.prefill)
				}
				for p := tt.prefill; p < tt.prefill+20; p++ {
					keys, _ = c.Update(positions(p, 1), positions(p, 1))
					if keys.Dim(2) > tt.maxSize {
						t.Fatalf("step %d: %d keys, bound %d", p, keys.Dim(2), tt.maxSize)
					}
				}
				got := rowPositions(t, keys)
				slices.Sort(got)
				if !slices.Equal(got, tt.wantAfter) || c.Offset() != tt.prefill+20 {
					t.Errorf("holds %v at offset %d, want %v", got, c.Offset(), tt.wantAfter)
				}
				return nil
			})
		})
	}
}

func TestCausalMask(t *testing.T) {
	tests := []struct {
		name    string
		n, off  int
		window  int
		leftPad []int32
		want    []bool
	}{
		{"causal", 3, 0, 0, nil, []bool{true, false, false, true, true, false, true, true, true}},
		{"offset", 2, 1, 0, nil, []bool{true, true, false, true, true, true}},
		{"window 2", 3, 0, 2, nil, []bool{true, false, false, true, true, false, false, true, true}},
		{"left padding", 2, 0, 0, []int32{1, 0}, []bool{false, false, false, true, true, false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mlxtest.Do(t, func() error {
				v, err := metal.Astype(CausalMask(tt.n, tt.off, tt.window, tt.leftPad), metal.Int32).Int32s()
				if err != nil {
					return err
				}
				got := make([]bool, len(v))
				for i, x := range v {
					got[i] = x != 0
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
				return nil
			})
		})
	}
}
