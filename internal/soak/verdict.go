package soak

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Limit is how much one figure may grow between the second and the last
// quarter of a soak before it counts as growing: Rel of the second
// quarter's median plus Abs.
type Limit struct {
	Name string
	Rel  float64
	Abs  float64
	Unit string // "MiB" shows bytes in MiB
	get  func(Sample) float64
}

// Limits are the growth rule's allowances, and why:
//   - The first quarter is warm-up (models load, caches fill to their caps,
//     Go's heap and MLX's buffer cache reach their working size), so the rule
//     compares the second quarter's median with the last quarter's: a median
//     ignores the odd sample taken mid-burst.
//   - RSS: 10% + 48 MiB. Go's heap target and MLX's freed-buffer cache move
//     by tens of MiB with the batch in flight; a leak of one request's KV
//     cache (≥ 100 kB here) over thousands of requests exceeds it.
//   - Goroutines: 10% + 8. Each in-flight request holds a few (handler,
//     stream writer, scheduler hand-off); the workers keep at most 12
//     requests in flight, so a sample can catch 8 more or fewer; a leak of
//     one per request is hundreds.
//   - Open files: 0% + 8. Only keep-alive connections vary (one per
//     concurrent request); a leaked file or socket per request is hundreds.
//   - MLX active memory: 10% + 32 MiB: the two models' prefix caches are
//     capped at 8 MiB each by the soak (they may still be filling after the
//     first quarter), plus the batch in flight.
var Limits = []Limit{
	{"rss", 0.10, 48 << 20, "MiB", func(s Sample) float64 { return float64(s.RSS) }},
	{"goroutines", 0.10, 8, "", func(s Sample) float64 { return float64(s.Goroutines) }},
	{"open_files", 0, 8, "", func(s Sample) float64 { return float64(s.FDs) }},
	{"mlx_active", 0.10, 32 << 20, "MiB", func(s Sample) float64 { return float64(s.MLXActive) }},
}

// Figure is one figure's verdict.
type Figure struct {
	Name             string
	Q2, Q4, Allowed  float64 // medians and the growth allowed
	Growing, Invalid bool
	Unit             string
}

// Verdict applies Limits to samples taken over a soak of length d. Too few
// samples, or any NaN/Inf/negative figure, make it invalid (not flat).
func Verdict(samples []Sample, d time.Duration) ([]Figure, error) {
	var q2, q4 []Sample
	for _, s := range samples {
		switch {
		case s.At >= d/4 && s.At < d/2:
			q2 = append(q2, s)
		case s.At >= d*3/4:
			q4 = append(q4, s)
		}
	}
	if len(q2) < 2 || len(q4) < 2 {
		return nil, fmt.Errorf("verdict: %d samples in the second quarter and %d in the last; need 2 each", len(q2), len(q4))
	}
	var out []Figure
	var bad []string
	for _, l := range Limits {
		f := Figure{Name: l.Name, Unit: l.Unit, Q2: median(q2, l.get), Q4: median(q4, l.get)}
		f.Allowed = l.Rel*f.Q2 + l.Abs
		f.Invalid = !finite(f.Q2) || !finite(f.Q4) || f.Q2 <= 0 || f.Q4 <= 0
		f.Growing = !f.Invalid && !(f.Q4-f.Q2 <= f.Allowed)
		if f.Invalid || f.Growing {
			bad = append(bad, l.Name)
		}
		out = append(out, f)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("verdict: growing or invalid: %s", strings.Join(bad, ", "))
	}
	return out, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// median of get over samples; NaN when any value is not finite.
func median(samples []Sample, get func(Sample) float64) float64 {
	v := make([]float64, len(samples))
	for i, s := range samples {
		v[i] = get(s)
		if !finite(v[i]) {
			return math.NaN()
		}
	}
	slices.Sort(v)
	if n := len(v); n%2 == 1 {
		return v[n/2]
	} else {
		return (v[n/2-1] + v[n/2]) / 2
	}
}

// show formats v in unit.
func show(v float64, unit string) string {
	if unit == "MiB" {
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	}
	return fmt.Sprintf("%.1f", v)
}

// PrintTable writes the samples as a table.
func PrintTable(w io.Writer, samples []Sample) {
	fmt.Fprintf(w, "%8s %8s %6s %9s %10s %6s %11s %8s\n", "t", "ok", "failed", "rss_MiB", "goroutines", "fds", "mlx_act_MiB", "pfx_hits")
	for _, s := range samples {
		fmt.Fprintf(w, "%8s %8d %6d %9.1f %10d %6d %11.1f %8d\n", s.At.Round(time.Second), s.OK, s.Failed,
			float64(s.RSS)/(1<<20), s.Goroutines, s.FDs, float64(s.MLXActive)/(1<<20), s.PrefixHits)
	}
}

// PrintVerdict writes each figure's medians and allowance.
func PrintVerdict(w io.Writer, figs []Figure, err error) {
	for _, f := range figs {
		state := "flat"
		switch {
		case f.Invalid:
			state = "INVALID"
		case f.Growing:
			state = "GROWING"
		}
		fmt.Fprintf(w, "%-11s q2 median %-12s q4 median %-12s growth %-12s allowed %-12s %s\n", f.Name,
			show(f.Q2, f.Unit), show(f.Q4, f.Unit), show(f.Q4-f.Q2, f.Unit), show(f.Allowed, f.Unit), state)
	}
	if err != nil {
		fmt.Fprintf(w, "verdict: NOT FLAT (%v)\n", err)
	} else {
		fmt.Fprintln(w, "verdict: flat")
	}
}
