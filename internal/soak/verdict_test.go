package soak

import (
	"strings"
	"testing"
	"time"
)

// series makes n samples over d with rss(i) for RSS and steady other figures.
func series(n int, d time.Duration, rss func(i int) int64) []Sample {
	var out []Sample
	for i := range n {
		out = append(out, Sample{At: d * time.Duration(i) / time.Duration(n-1), RSS: rss(i), Goroutines: 40, FDs: 20, MLXActive: 50 << 20})
	}
	return out
}

// TestVerdict: the growth rule passes a flat (noisy, warming-up) series and
// fails a leak, a zero figure and too few samples.
func TestVerdict(t *testing.T) {
	d := 4 * time.Minute
	cases := []struct {
		name, want string
		samples    []Sample
	}{
		{"flat after warm-up", "", series(40, d, func(i int) int64 {
			if i < 10 {
				return int64(100+10*i) << 20 // warm-up in the first quarter
			}
			return int64(200+i%3*10) << 20
		})},
		{"leak", "rss", series(40, d, func(i int) int64 { return int64(200+5*i) << 20 })},
		{"zero figure", "rss", series(40, d, func(int) int64 { return 0 })},
		{"too few", "need 2", series(4, d, func(int) int64 { return 1 << 20 })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verdict(tc.samples, d)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want flat, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error naming %q, got %v", tc.want, err)
			}
		})
	}
}
