package layer

import (
	"errors"
	"fmt"
	"math"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// ErrUnsupportedRope marks a rope_type this port does not implement.
var ErrUnsupportedRope = errors.New("unsupported rope type")

// RoPE applies rotary position embeddings (mlx-lm rope_utils.initialize_rope):
// default / linear through a base and scale, llama3 / yarn / longrope through
// precomputed frequencies, with an optional pre-scale of the rotated part.
type RoPE struct {
	Dims        int
	Traditional bool
	Base        float64
	Scale       float64
	// Freqs replaces Base when set (owned by the RoPE; Free releases it).
	Freqs *metal.Array
	// PreScale multiplies the rotated dims before rotation (yarn mscale,
	// longrope scale); 1 means none.
	PreScale float64
}

// NewRoPE builds the rope for dims rotated features from normalized settings;
// maxPos is max_position_embeddings. Must run on the MLX thread; the caller
// keeps Freqs alive with the model.
func NewRoPE(dims int, traditional bool, r model.Rope, maxPos int) (*RoPE, error) {
	rp := &RoPE{Dims: dims, Traditional: traditional, Base: r.Theta, Scale: 1, PreScale: 1}
	switch r.Type {
	case "default", "":
	case "linear":
		if r.Factor <= 0 {
			return nil, fmt.Errorf("linear rope: factor %g must be positive", r.Factor)
		}
		rp.Scale = 1 / r.Factor
	case "llama3":
		rp.Freqs = freqsArray(llama3Freqs(dims, r))
	case "yarn":
		freqs, mscale := yarnFreqs(dims, r)
		rp.Freqs, rp.PreScale = freqsArray(freqs), mscale
	case "longrope":
		freqs, scale, err := longropeFreqs(dims, r, maxPos)
		if err != nil {
			return nil, err
		}
		rp.Freqs, rp.PreScale = freqsArray(freqs), scale
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedRope, r.Type)
	}
	return rp, nil
}

// Apply rotates x [B, H, L, D] at per-sequence start positions offsets
// (int32 [B]).
func (r *RoPE) Apply(x, offsets *metal.Array) *metal.Array {
	if r.PreScale != 1 {
		x = r.preScale(x)
	}
	if r.Freqs != nil {
		return metal.RoPEFreqsOffsets(x, r.Dims, r.Traditional, r.Scale, offsets, r.Freqs)
	}
	return metal.RoPEOffsets(x, r.Dims, r.Traditional, r.Base, r.Scale, offsets)
}

// Arrays returns the arrays the RoPE owns (kept with the model).
func (r *RoPE) Arrays() []*metal.Array {
	if r.Freqs == nil {
		return nil
	}
	return []*metal.Array{r.Freqs}
}

// preScale multiplies the first Dims features of the last axis.
func (r *RoPE) preScale(x *metal.Array) *metal.Array {
	d := x.Dim(-1)
	if r.Dims >= d {
		return metal.MulScalar(x, r.PreScale)
	}
	parts := metal.Split(x, []int{r.Dims}, -1)
	return metal.Concatenate([]*metal.Array{metal.MulScalar(parts[0], r.PreScale), parts[1]}, -1)
}

// freqsArray turns frequencies into a float32 array.
func freqsArray(f []float64) *metal.Array {
	data := make([]float32, len(f))
	for i, v := range f {
		data[i] = float32(v)
	}
	return metal.FromFloat32(data, len(data))
}

// baseFreqs is base^(2i/dims) for i < dims/2 (wavelength-style frequencies
// that mx.fast.rope divides positions by).
func baseFreqs(dims int, base float64) []float64 {
	f := make([]float64, dims/2)
	for i := range f {
		f[i] = math.Pow(base, float64(2*i)/float64(dims))
	}
	return f
}

// llama3Freqs is mlx-lm's Llama3RoPE frequency scaling.
func llama3Freqs(dims int, r model.Rope) []float64 {
	low, high := orDefault(r.LowFreqFactor, 1), orDefault(r.HighFreqFactor, 4)
	old := float64(r.OriginalMaxPositionEmbeddings)
	if old == 0 {
		old = 8192
	}
	lowWave, highWave := old/low, old/high
	f := baseFreqs(dims, r.Theta)
	for i, freq := range f {
		wave := 2 * math.Pi * freq
		if wave > lowWave {
			freq *= r.Factor
		}
		if wave > highWave && wave < lowWave {
			smooth := (old/wave - low) / (high - low)
			freq = freq / ((1-smooth)/r.Factor + smooth)
		}
		f[i] = freq
	}
	return f
}

// yarnFreqs is mlx-lm's YarnRoPE: blended frequencies and the mscale.
func yarnFreqs(dims int, r model.Rope) ([]float64, float64) {
	orig := float64(r.OriginalMaxPositionEmbeddings)
	if orig == 0 {
		orig = 4096
	}
	betaFast, betaSlow := orDefault(r.BetaFast, 32), orDefault(r.BetaSlow, 1)
	corr := func(rot float64) float64 {
		return float64(dims) * math.Log(orig/(rot*2*math.Pi)) / (2 * math.Log(r.Theta))
	}
	low, high := corr(betaFast), corr(betaSlow)
	if r.Truncate == nil || *r.Truncate { // transformers rounds unless truncate is false
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = math.Max(low, 0), math.Min(high, float64(dims-1))
	if low == high {
		high += 0.001
	}
	extra := baseFreqs(dims, r.Theta)
	f := make([]float64, len(extra))
	for i, fe := range extra {
		ramp := math.Min(math.Max((float64(i)-low)/(high-low), 0), 1)
		mask := 1 - ramp
		fi := r.Factor * fe
		f[i] = fi * fe / (fi*mask + fe*(1-mask))
	}
	return f, yarnMscale(r)
}

// yarnMscale is the attention scaling YaRN applies to the rotated features.
func yarnMscale(r model.Rope) float64 {
	if r.AttentionFactor != nil {
		return *r.AttentionFactor
	}
	get := func(m float64) float64 {
		if r.Factor <= 1 {
			return 1
		}
		return 0.1*m*math.Log(r.Factor) + 1
	}
	return get(orDefault(r.Mscale, 1)) / get(r.MscaleAllDim)
}

// longropeFreqs is mlx-lm's SuScaledRoPE (Phi-3 long context).
func longropeFreqs(dims int, r model.Rope, maxPos int) ([]float64, float64, error) {
	f := baseFreqs(dims, r.Theta)
	if len(r.LongFactor) != len(f) {
		return nil, 0, fmt.Errorf("longrope: long_factor has %d values, want %d", len(r.LongFactor), len(f))
	}
	for i := range f {
		f[i] *= r.LongFactor[i]
	}
	orig := float64(r.OriginalMaxPositionEmbeddings)
	factor := float64(maxPos) / orig
	if factor <= 1 || orig == 0 {
		return f, 1, nil
	}
	return f, math.Sqrt(1 + math.Log(factor)/math.Log(orig)), nil
}

// orDefault returns v, or def when v is zero (unset in config.json).
func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}
