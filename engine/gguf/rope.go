package gguf

import (
	"fmt"
	"math"
)

// Llama 3.1 rope scaling reaches a GGUF only as the rope_freqs tensor that
// LlamaModel.generate_extra_tensors computes: one factor per rotary
// frequency (1 for short wavelengths, factor for long ones, a smooth blend
// between). The engine, like mlx-lm, rebuilds those factors from
// rope_scaling {factor, low_freq_factor, high_freq_factor,
// original_max_position_embeddings}. llama3Scaling finds such settings
// that reproduce the stored factors, or refuses.

// factorTolerance bounds the relative difference between a stored factor
// (float32) and the one the found settings give.
const factorTolerance = 1e-5

// llama3Scaling returns the rope_scaling object reproducing factors for a
// rope of base theta over dims features in a model of context length ctx,
// nil when every factor is 1.
func llama3Scaling(factors []float32, theta float64, dims, ctx int) (map[string]any, error) {
	if len(factors) != dims/2 {
		return nil, fmt.Errorf("rope_freqs has %d factors, want %d (half the rope dimensions)", len(factors), dims/2)
	}
	factor := 1.0
	for _, f := range factors {
		if !(f >= 1) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("rope_freqs factor %g is not a Llama 3 scaling factor (≥ 1)", f)
		}
		factor = max(factor, float64(f))
	}
	if factor == 1 {
		return nil, nil
	}
	// Llama 3.x's own settings first (low 1, high 4, original 8192, or the
	// context length over the factor), else settings fitted to the factors.
	for _, orig := range []float64{8192, math.Round(float64(ctx) / factor)} {
		if s, err := llama3Settings(factors, theta, dims, factor, orig, 1/orig, 4/orig); err == nil {
			return s, nil
		}
	}
	lo, hi, err := llama3Band(factors, factor, theta, dims)
	if err != nil {
		return nil, err
	}
	// The factors depend only on the band [lo, hi] of inverse wavelengths
	// (low_freq_factor/original, high_freq_factor/original): take the
	// nearest whole original length and derive the two factors from it.
	orig := max(1, math.Round(1/lo))
	return llama3Settings(factors, theta, dims, factor, orig, tidy(lo*orig)/orig, tidy(hi*orig)/orig)
}

// llama3Settings returns the rope_scaling object for the band [lo, hi] and
// original length orig if it reproduces every factor.
func llama3Settings(factors []float32, theta float64, dims int, factor, orig, lo, hi float64) (map[string]any, error) {
	for i, f := range factors {
		want := llama3Factor(invWavelength(theta, dims, i), factor, lo, hi)
		if math.Abs(want-float64(f)) > factorTolerance*want {
			return nil, fmt.Errorf("rope_freqs factor %d is %g, but Llama 3 scaling with factor %g gives %g: not a rope scaling LMX supports", i, f, factor, want)
		}
	}
	return map[string]any{"rope_type": "llama3", "factor": factor, "low_freq_factor": tidy(lo * orig),
		"high_freq_factor": tidy(hi * orig), "original_max_position_embeddings": int(orig)}, nil
}

// invWavelength is 1/(2π/freq_i) for rope frequency i.
func invWavelength(theta float64, dims, i int) float64 {
	return 1 / (2 * math.Pi * math.Pow(theta, float64(2*i)/float64(dims)))
}

// llama3Factor is the factor Llama 3 scaling gives a frequency whose inverse
// wavelength is x, for the band [lo, hi].
func llama3Factor(x, factor, lo, hi float64) float64 {
	switch {
	case x > hi:
		return 1
	case x < lo:
		return factor
	}
	smooth := (x - lo) / (hi - lo)
	return 1 / ((1-smooth)/factor + smooth)
}

// llama3Band finds the band of inverse wavelengths where the factors blend:
// from two blended factors it is exact; with fewer, any band consistent
// with the factors gives the same model, and one is chosen between the
// neighbouring frequencies.
func llama3Band(factors []float32, factor, theta float64, dims int) (lo, hi float64, err error) {
	// Frequencies run from short wavelengths (factor 1, large x) to long.
	var mids []int
	lastOne, firstFull := -1, len(factors)
	for i, f := range factors {
		switch {
		case math.Abs(float64(f)-1) <= factorTolerance:
			lastOne = i
		case math.Abs(float64(f)-factor) <= factorTolerance*factor:
			firstFull = min(firstFull, i)
		default:
			mids = append(mids, i)
		}
	}
	x := func(i int) float64 { return invWavelength(theta, dims, i) }
	smooth := func(i int) float64 { return (1/float64(factors[i]) - 1/factor) / (1 - 1/factor) }
	switch {
	case len(mids) >= 2:
		a, b := mids[0], mids[len(mids)-1]
		slope := (smooth(a) - smooth(b)) / (x(a) - x(b))
		lo = x(b) - smooth(b)/slope
		hi = lo + 1/slope
	case len(mids) == 1:
		// Keep the band clear of the neighbouring frequencies on both sides.
		m, s := mids[0], smooth(mids[0])
		room := x(m) / 2
		if firstFull < len(factors) {
			room = min(room, (x(m)-x(firstFull))/2)
		}
		if lastOne >= 0 {
			room = min(room, (x(lastOne)-x(m))*s/(1-s)/2)
		}
		lo, hi = x(m)-room, x(m)+room*(1-s)/s
	default:
		if lastOne < 0 || firstFull == len(factors) {
			return 0, 0, fmt.Errorf("rope_freqs factors do not follow Llama 3 scaling")
		}
		gap := x(lastOne) - x(firstFull)
		lo, hi = x(firstFull)+gap/3, x(firstFull)+2*gap/3
	}
	if !(lo > 0 && hi > lo) {
		return 0, 0, fmt.Errorf("rope_freqs factors do not follow Llama 3 scaling")
	}
	return lo, hi, nil
}

// tidy rounds v to a whole number when it is one to within float32
// precision (factors read back from float32 tensors).
func tidy(v float64) float64 {
	if r := math.Round(v); math.Abs(v-r) <= 1e-6*math.Abs(v) {
		return r
	}
	return v
}
