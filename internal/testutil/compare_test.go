package testutil

import (
	"math"
	"testing"
)

// TestRelErr checks that every comparison that is not a real one is +Inf,
// so "e > limit" fails, and that a real one is the norm ratio.
func TestRelErr(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, tt := range []struct {
		name      string
		got, want []float32
	}{
		{"NaN output", []float32{1, nan, 3}, []float32{1, 2, 3}},
		{"all NaN output", []float32{nan, nan}, []float32{1, 2}},
		{"+Inf output", []float32{1, inf}, []float32{1, 2}},
		{"-Inf output", []float32{1, -inf}, []float32{1, 2}},
		{"NaN reference", []float32{1, 2}, []float32{1, nan}},
		{"Inf in both", []float32{inf, 2}, []float32{inf, 2}},
		{"missing reference", []float32{1, 2}, nil},
		{"missing output", nil, []float32{1, 2}},
		{"both empty", nil, nil},
		{"shorter output", []float32{1}, []float32{1, 2}},
		{"zero reference", []float32{0, 0}, []float32{0, 0}},
	} {
		if e := RelErr(tt.got, tt.want); !math.IsInf(e, 1) {
			t.Errorf("%s: RelErr = %g, want +Inf", tt.name, e)
		}
	}
	if e := RelErr([]float32{3, 4}, []float32{3, 4}); e != 0 {
		t.Errorf("equal slices: RelErr = %g, want 0", e)
	}
	if e, want := RelErr([]float32{3, 5}, []float32{3, 4}), 1.0/5; math.Abs(e-want) > 1e-12 {
		t.Errorf("RelErr = %g, want %g", e, want)
	}
}
