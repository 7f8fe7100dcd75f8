package gguf

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

// llama3Factors computes rope_freqs as convert_hf_to_gguf.py's
// LlamaModel.generate_extra_tensors does, rounded to float32.
func llama3Factors(theta float64, dims int, factor, low, high, orig float64) []float32 {
	out := make([]float32, dims/2)
	for i := range out {
		freq := float64(float32(1 / math.Pow(theta, float64(2*i)/float64(dims))))
		wavelen := 2 * math.Pi / freq
		switch smooth := (orig/wavelen - low) / (high - low); {
		case wavelen < orig/high:
			out[i] = 1
		case wavelen > orig/low:
			out[i] = float32(factor)
		default:
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

// TestLlama3Scaling recovers rope_scaling from rope_freqs: Llama 3.1's and
// 3.2's own settings exactly, and for other settings ones that reproduce
// every factor; factors no Llama 3 scaling gives are refused.
func TestLlama3Scaling(t *testing.T) {
	for _, tt := range []struct {
		name                    string
		theta                   float64
		dims, ctx               int
		factor, low, high, orig float64
		want                    map[string]any // nil: any settings reproducing the factors
	}{
		{"llama 3.1 8B", 500000, 128, 131072, 8, 1, 4, 8192, map[string]any{"rope_type": "llama3", "factor": 8.0,
			"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
		{"llama 3.2 1B", 500000, 64, 131072, 32, 1, 4, 8192, map[string]any{"rope_type": "llama3", "factor": 32.0,
			"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}},
		{"other settings", 10000, 128, 32768, 4, 2, 16, 4096, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			factors := llama3Factors(tt.theta, tt.dims, tt.factor, tt.low, tt.high, tt.orig)
			got, err := llama3Scaling(factors, tt.theta, tt.dims, tt.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			orig := float64(got["original_max_position_embeddings"].(int))
			lo, hi := got["low_freq_factor"].(float64)/orig, got["high_freq_factor"].(float64)/orig
			for i, f := range factors {
				if g := llama3Factor(invWavelength(tt.theta, tt.dims, i), tt.factor, lo, hi); math.Abs(g-float64(f)) > 1e-5*g {
					t.Errorf("factor %d: settings %v give %g, rope_freqs holds %g", i, got, g, f)
				}
			}
		})
	}
	if s, err := llama3Scaling(make32(64, 1), 500000, 128, 8192); s != nil || err != nil {
		t.Errorf("all-ones factors: %v, %v; want no scaling", s, err)
	}
	bad := llama3Factors(500000, 128, 8, 1, 4, 8192)
	bad[3] = 2.5
	if _, err := llama3Scaling(bad, 500000, 128, 131072); err == nil || !strings.Contains(err.Error(), "Llama 3 scaling") {
		t.Errorf("a stray factor: %v, want an error", err)
	}
}

// make32 returns n copies of v.
func make32(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}
