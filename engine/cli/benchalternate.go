package cli

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/lmx-app/lmx/engine/bench"
)

// This file holds what both engine comparisons of lmx bench share
// (--compare-mlx-lm and --compare-llamacpp): the order of runs and the
// figures a run order gives.

// alternate warms each engine up once, then runs them in turn (ABAB…) so
// that a change in the machine's load falls on both alike.
func alternate[S any](ctx context.Context, runs int, engines ...func(context.Context) (S, error)) ([][]S, error) {
	if err := warmUp(ctx, engines...); err != nil {
		return nil, err
	}
	return interleave(ctx, runs, engines...)
}

// warmUp runs each engine once, untimed: first-run costs (kernel
// compilation, allocations) stay out of the figures.
func warmUp[S any](ctx context.Context, engines ...func(context.Context) (S, error)) error {
	for _, run := range engines {
		if _, err := run(ctx); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

// interleave runs the engines in turn, runs times each; out[i] holds
// engine i's results in order.
func interleave[S any](ctx context.Context, runs int, engines ...func(context.Context) (S, error)) ([][]S, error) {
	out := make([][]S, len(engines))
	for range runs {
		for i, run := range engines {
			s, err := run(ctx)
			if err != nil {
				return nil, err
			}
			out[i] = append(out[i], s)
		}
	}
	return out, nil
}

// Figures are one engine's figures over the timed runs. PeakMemoryBytes is
// MLX's peak allocation for LMX and mlx_lm (weights, KV cache, activations)
// and, for llama.cpp, the node process's peak resident set during the run
// less its resident set before llama.cpp was loaded (mapped weights, KV
// cache, compute buffers).
type Figures struct {
	PrefillTPS      Spread `json:"prefill_tps"`
	DecodeTPS       Spread `json:"decode_tps"`
	PeakMemoryBytes Spread `json:"peak_memory_bytes"`
}

// Spread is a figure's median and range over the runs.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// Comparison holds LMX / the other engine for each figure.
type Comparison struct {
	Prefill Versus `json:"prefill_tps"`
	Decode  Versus `json:"decode_tps"`
	Memory  Versus `json:"peak_memory_bytes"`
}

// Versus is the ratio of two medians, and Level when the two ranges
// overlap: the runs cannot tell the engines apart.
type Versus struct {
	Ratio float64 `json:"ratio"`
	Level bool    `json:"level"`
}

// sample is one timed run's figures; perRun is false for a peak that is not
// the run's own (llama.cpp where the system cannot restart it).
type sample struct {
	prefillTPS, decodeTPS, peakBytes float64
	perRun                           bool
}

// sampleOf is an MLX engine's run (LMX or mlx_lm) as a sample.
func sampleOf(r bench.Run) sample {
	return sample{r.PrefillTPS, r.DecodeTPS, float64(r.PeakMemoryBytes), true}
}

// figuresOf reduces samples to spreads.
func figuresOf(s []sample) Figures {
	get := func(v func(sample) float64) Spread {
		xs := make([]float64, len(s))
		for i, x := range s {
			xs[i] = v(x)
		}
		return Spread{Median: median(xs), Min: slices.Min(xs), Max: slices.Max(xs)}
	}
	return Figures{
		PrefillTPS:      get(func(x sample) float64 { return x.prefillTPS }),
		DecodeTPS:       get(func(x sample) float64 { return x.decodeTPS }),
		PeakMemoryBytes: get(func(x sample) float64 { return x.peakBytes }),
	}
}

// compare divides a's medians by b's.
func compare(a, b Figures) Comparison {
	vs := func(x, y Spread) Versus {
		return Versus{Ratio: x.Median / y.Median, Level: x.Min <= y.Max && y.Min <= x.Max}
	}
	return Comparison{Prefill: vs(a.PrefillTPS, b.PrefillTPS), Decode: vs(a.DecodeTPS, b.DecodeTPS),
		Memory: vs(a.PeakMemoryBytes, b.PeakMemoryBytes)}
}

// printFiguresHeader prints the column titles of printFigures' rows.
func printFiguresHeader(w io.Writer) {
	fmt.Fprintf(w, "%-14s %-24s %-24s %-24s\n", "", "prefill tok/s", "decode tok/s", "peak memory MiB")
}

// printFigures prints one engine's row: each figure's median (min–max).
func printFigures(w io.Writer, name string, f Figures) {
	fmt.Fprintf(w, "%-14s %-24s %-24s %-24s\n", name, spread(f.PrefillTPS, 1), spread(f.DecodeTPS, 1),
		spread(f.PeakMemoryBytes, 1<<20))
}

// printComparison prints the row of ratios, each marked level where the
// ranges overlap.
func printComparison(w io.Writer, name string, c Comparison) {
	fmt.Fprintf(w, "%-14s %-24s %-24s %-24s\n", name, versus(c.Prefill), versus(c.Decode), versus(c.Memory))
}

// spread formats a median and range, each divided by unit.
func spread(s Spread, unit float64) string {
	return fmt.Sprintf("%.1f (%.1f–%.1f)", s.Median/unit, s.Min/unit, s.Max/unit)
}

// versus formats a ratio, marked level when the ranges overlap.
func versus(v Versus) string {
	if v.Level {
		return fmt.Sprintf("%.2fx level", v.Ratio)
	}
	return fmt.Sprintf("%.2fx", v.Ratio)
}
