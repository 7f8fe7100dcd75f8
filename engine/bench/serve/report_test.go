package serve

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestReportSummarize checks that a report of two engines carries spreads
// and a level-marked ratio, and that a broken run fails it.
func TestReportSummarize(t *testing.T) {
	two := []*Endpoint{{Name: "lmx"}, {Name: "mlx_lm.server"}}
	tests := []struct {
		name   string
		points [][][]point // per run, per engine
		err    error
	}{
		{"ok", [][][]point{
			{{{"decode", "tok/s", 10}, {"cached", "tokens", 0}}, {{"decode", "tok/s", 5}, {"cached", "tokens", 100}}},
			{{{"decode", "tok/s", 12}, {"cached", "tokens", 0}}, {{"decode", "tok/s", 11}, {"cached", "tokens", 100}}},
		}, nil},
		{"NaN", [][][]point{{{{"decode", "tok/s", math.NaN()}}, {{"decode", "tok/s", 5}}}}, ErrNotFinite},
		{"Inf", [][][]point{{{{"decode", "tok/s", 1}}, {{"decode", "tok/s", math.Inf(1)}}}}, ErrNotFinite},
		{"missing run", [][][]point{{{{"decode", "tok/s", 1}}, {}}}, ErrNoSamples},
		{"run counts differ", [][][]point{
			{{{"decode", "tok/s", 1}}, {{"decode", "tok/s", 2}}},
			{{{"decode", "tok/s", 1}}, {}},
		}, ErrRunMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Endpoints: two}
			for _, run := range tt.points {
				r.add(run)
			}
			err := r.summarize()
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			dec, cached := r.Figures[0], r.Figures[1]
			if dec.Spreads[0] != (Spread{11, 10, 12, 2}) || dec.Versus == nil || !dec.Versus.Level || dec.Versus.Ratio != 11/8.0 {
				t.Fatalf("decode figure %+v, versus %+v", dec.Spreads, dec.Versus)
			}
			if cached.Versus != nil {
				t.Fatalf("token counts got a ratio: %+v", cached.Versus)
			}
			var out strings.Builder
			r.Print(&out)
			if !strings.Contains(out.String(), "11.0 (10.0–12.0)") || !strings.Contains(out.String(), "1.38x level") {
				t.Fatalf("printed report lacks the spread or the level ratio:\n%s", out.String())
			}
		})
	}
}
