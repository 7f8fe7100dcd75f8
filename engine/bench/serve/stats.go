package serve

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNoSamples marks a figure with no runs to summarize.
var ErrNoSamples = errors.New("no samples")

// ErrNotFinite marks a sample that is NaN or infinite: a broken run (a zero
// duration, a failed parse) must stop a comparison, not skew it.
var ErrNotFinite = errors.New("sample is not finite")

// ErrRunMismatch marks two engines compared over different numbers of runs,
// which alternating runs never produce.
var ErrRunMismatch = errors.New("engines have different run counts")

// Spread is a figure's median and range over the timed runs.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Runs   int     `json:"runs"`
}

// Versus compares engine A with engine B on one figure: Ratio is A's median
// over B's, and Level says the two ranges overlap, so the runs cannot tell
// the engines apart whatever the ratio.
type Versus struct {
	Ratio float64 `json:"ratio"`
	Level bool    `json:"level"`
}

// Summarize returns the median (Python's statistics.median: the mean of the
// two middle values for an even count) and the range of xs. It fails on an
// empty list and on NaN or infinite values.
func Summarize(xs []float64) (Spread, error) {
	if len(xs) == 0 {
		return Spread{}, ErrNoSamples
	}
	for i, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return Spread{}, fmt.Errorf("run %d: %v: %w", i+1, x, ErrNotFinite)
		}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[n-1], Runs: n}, nil
}

// Compare summarizes a and b, the same figure's runs of two engines, and
// divides A's median by B's. It fails when the run counts differ, when
// either is empty or holds a value that is not finite, and when B's median
// is zero (the ratio would be infinite).
func Compare(a, b []float64) (Versus, error) {
	if len(a) != len(b) {
		return Versus{}, fmt.Errorf("%d runs against %d: %w", len(a), len(b), ErrRunMismatch)
	}
	sa, err := Summarize(a)
	if err != nil {
		return Versus{}, fmt.Errorf("engine A: %w", err)
	}
	sb, err := Summarize(b)
	if err != nil {
		return Versus{}, fmt.Errorf("engine B: %w", err)
	}
	if sb.Median == 0 {
		return Versus{}, fmt.Errorf("engine B's median is 0: %w", ErrNotFinite)
	}
	return Versus{Ratio: sa.Median / sb.Median, Level: sa.Min <= sb.Max && sb.Min <= sa.Max}, nil
}
