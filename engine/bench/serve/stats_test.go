package serve

import (
	"errors"
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want Spread
		err  error
	}{
		{"one", []float64{3}, Spread{3, 3, 3, 1}, nil},
		{"odd", []float64{5, 1, 3}, Spread{3, 1, 5, 3}, nil},
		{"even takes the middle mean", []float64{4, 1, 3, 2}, Spread{2.5, 1, 4, 4}, nil},
		{"empty", nil, Spread{}, ErrNoSamples},
		{"NaN", []float64{1, math.NaN(), 2}, Spread{}, ErrNotFinite},
		{"+Inf", []float64{1, math.Inf(1)}, Spread{}, ErrNotFinite},
		{"-Inf", []float64{math.Inf(-1)}, Spread{}, ErrNotFinite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Summarize(tt.xs)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSummarizeKeepsInput(t *testing.T) {
	xs := []float64{3, 1, 2}
	if _, err := Summarize(xs); err != nil {
		t.Fatal(err)
	}
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Fatalf("Summarize sorted its input: %v", xs)
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want Versus
		err  error
	}{
		{"apart", []float64{10, 11, 12}, []float64{4, 5, 6}, Versus{Ratio: 11.0 / 5, Level: false}, nil},
		{"overlapping ranges are level", []float64{10, 11, 20}, []float64{4, 5, 10}, Versus{Ratio: 11.0 / 5, Level: true}, nil},
		{"touching ranges are level", []float64{6, 7}, []float64{5, 6}, Versus{Ratio: 6.5 / 5.5, Level: true}, nil},
		{"B inside A is level", []float64{1, 10}, []float64{5, 5}, Versus{Ratio: 5.5 / 5, Level: true}, nil},
		{"slower A, apart", []float64{1, 2}, []float64{3, 4}, Versus{Ratio: 1.5 / 3.5, Level: false}, nil},
		{"length mismatch", []float64{1, 2}, []float64{1}, Versus{}, ErrRunMismatch},
		{"both empty", nil, nil, Versus{}, ErrNoSamples},
		{"NaN in A", []float64{math.NaN()}, []float64{1}, Versus{}, ErrNotFinite},
		{"Inf in B", []float64{1}, []float64{math.Inf(1)}, Versus{}, ErrNotFinite},
		{"zero B median", []float64{1}, []float64{0}, Versus{}, ErrNotFinite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compare(tt.a, tt.b)
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if math.Abs(got.Ratio-tt.want.Ratio) > 1e-12 || got.Level != tt.want.Level {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
