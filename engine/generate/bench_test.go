package generate

import (
	"testing"
)

// BenchmarkStoriesDecode measures decode throughput on stories260k (host
// overhead dominates a model this small, so this tracks the per-op cost).
func BenchmarkStoriesDecode(b *testing.B) {
	f := loadFixture(b, "stories260k")
	const n = 200
	var decode float64
	for b.Loop() {
		res, err := Generate(b.Context(), f.m, f.vocab, Request{Prompt: []int32{1}, MaxTokens: n}, nil)
		if err != nil {
			b.Fatal(err)
		}
		decode += res.DecodeTime.Seconds()
	}
	b.ReportMetric(float64(n*b.N)/decode, "tok/s")
}
