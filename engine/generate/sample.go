// Package generate runs token generation on a model: chunked prefill, decode
// with async-eval pipelining (step N+1 is built while step N runs, like
// mlx-lm's generate_step), on-device sampling, logprobs, streaming and
// cancellation.
package generate

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/lmx-app/lmx/metal"
)

// defaultRepetitionContext is how many recent tokens the repetition penalty
// looks at (mlx-lm's repetition_context_size default).
const defaultRepetitionContext = 20

// Sampling are a request's sampling settings; the zero value is greedy.
type Sampling struct {
	// Temperature 0 means greedy (argmax).
	Temperature float64
	// TopP in (0, 1) keeps the smallest set of tokens with that much mass.
	TopP float64
	// TopK > 0 keeps the K most likely tokens.
	TopK int
	// MinP > 0 drops tokens less likely than MinP times the most likely one.
	MinP float64
	// RepetitionPenalty (≠ 0, 1) divides positive and multiplies negative
	// logits of the last RepetitionContext tokens (prompt included).
	RepetitionPenalty float64
	RepetitionContext int
	// PresencePenalty and FrequencyPenalty (OpenAI semantics) subtract
	// presence·[count > 0] + frequency·count for tokens generated so far.
	PresencePenalty, FrequencyPenalty float64
	// LogitBias adds a value to a token's logit before anything else.
	LogitBias map[int]float64
	// Seed makes sampling reproducible; nil draws a random seed.
	Seed *uint64
}

// Validate checks the ranges; vocab is the model's vocabulary size.
func (s Sampling) Validate(vocab int) error {
	switch {
	case s.Temperature < 0:
		return fmt.Errorf("temperature %g must not be negative", s.Temperature)
	case s.TopP < 0 || s.TopP > 1:
		return fmt.Errorf("top_p %g must be in [0, 1]", s.TopP)
	case s.TopK < 0:
		return fmt.Errorf("top_k %d must not be negative", s.TopK)
	case s.MinP < 0 || s.MinP > 1:
		return fmt.Errorf("min_p %g must be in [0, 1]", s.MinP)
	case s.RepetitionPenalty < 0:
		return fmt.Errorf("repetition_penalty %g must not be negative", s.RepetitionPenalty)
	}
	for id := range s.LogitBias {
		if id < 0 || id >= vocab {
			return fmt.Errorf("logit_bias token %d outside the vocabulary (%d)", id, vocab)
		}
	}
	return nil
}

// sampler holds the on-device sampling state of one sequence; every array
// it holds is kept and released by free.
type sampler struct {
	opts    Sampling
	vocab   int
	bias    *metal.Array // [1, V] float32, nil without logit bias
	history *metal.Array // [1, n] int32 recent tokens, nil without repetition penalty
	counts  *metal.Array // [1, V] float32 generated-token counts, nil without penalties
	key     *metal.Array
}

// newSampler prepares the state; prompt seeds the repetition history.
func newSampler(opts Sampling, vocab int, prompt []int32) *sampler {
	s := &sampler{opts: opts, vocab: vocab}
	if len(opts.LogitBias) > 0 {
		b := make([]float32, vocab)
		for id, v := range opts.LogitBias {
			b[id] = float32(v)
		}
		s.bias = metal.FromFloat32(b, 1, vocab).Keep()
	}
	if s.repetition() {
		ctx := s.context()
		tail := prompt[max(0, len(prompt)-ctx):]
		if len(tail) > 0 {
			s.history = metal.FromInt32(append([]int32{}, tail...), 1, len(tail)).Keep()
		}
	}
	if opts.PresencePenalty != 0 || opts.FrequencyPenalty != 0 {
		s.counts = metal.Zeros([]int{1, vocab}, metal.Float32).Keep()
	}
	if opts.Temperature > 0 {
		s.key = metal.RandomKey(seed(opts.Seed)).Keep()
	}
	return s
}

// seed returns the requested seed or a random one.
func seed(s *uint64) uint64 {
	if s != nil {
		return *s
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// plain reports whether sampling is a bare argmax of the logits: greedy,
// no logit bias, no penalties.
func (s *sampler) plain() bool {
	return s.opts.Temperature == 0 && s.bias == nil && !s.repetition() && s.counts == nil
}

// repetition reports whether the repetition penalty is active.
func (s *sampler) repetition() bool {
	return s.opts.RepetitionPenalty != 0 && s.opts.RepetitionPenalty != 1
}

// context is the repetition window.
func (s *sampler) context() int {
	if s.opts.RepetitionContext > 0 {
		return s.opts.RepetitionContext
	}
	return defaultRepetitionContext
}

// observe records a generated token y [1] (lazily) for the penalties.
func (s *sampler) observe(y *metal.Array) {
	if !s.repetition() && s.counts == nil {
		return
	}
	tok := metal.Reshape(metal.Astype(y, metal.Int32), 1, 1)
	if s.repetition() {
		h := tok
		if s.history != nil {
			h = metal.Concatenate([]*metal.Array{s.history, tok}, 1)
			if n := h.Dim(1); n > s.context() {
				h = metal.Slice(h, []int{0, n - s.context()}, []int{1, n})
			}
		}
		s.history = metal.Replace(s.history, h)
	}
	if s.counts != nil {
		ids := metal.Arange(0, float64(s.vocab), 1, metal.Int32)
		hit := metal.Astype(metal.Equal(metal.Reshape(ids, 1, s.vocab), tok), metal.Float32)
		s.counts = metal.Replace(s.counts, metal.Add(s.counts, hit))
	}
}

// process applies logit bias and penalties to logits [1, V] (float32).
func (s *sampler) process(logits *metal.Array) *metal.Array {
	if s.bias != nil {
		logits = metal.Add(logits, s.bias)
	}
	if s.repetition() && s.history != nil {
		sel := metal.TakeAlongAxis(logits, s.history, -1)
		zero := metal.Scalar(0, metal.Float32)
		p := s.opts.RepetitionPenalty
		sel = metal.Where(metal.Less(sel, zero), metal.MulScalar(sel, p), metal.MulScalar(sel, 1/p))
		logits = metal.PutAlongAxis(logits, s.history, sel, -1)
	}
	if s.counts != nil {
		present := metal.Astype(metal.Greater(s.counts, metal.Scalar(0, metal.Float32)), metal.Float32)
		pen := metal.Add(metal.MulScalar(present, s.opts.PresencePenalty), metal.MulScalar(s.counts, s.opts.FrequencyPenalty))
		logits = metal.Sub(logits, pen)
	}
	return logits
}

// sample draws the next token [1] from logprobs [1, V] (mlx-lm make_sampler:
// top-p, min-p, top-k filters, then a categorical draw at the temperature).
func (s *sampler) sample(logprobs *metal.Array) *metal.Array {
	if s.opts.Temperature == 0 {
		return metal.Argmax(logprobs, -1, false)
	}
	if s.opts.TopP > 0 && s.opts.TopP < 1 {
		logprobs = topP(logprobs, s.opts.TopP)
	}
	if s.opts.MinP > 0 {
		logprobs = minP(logprobs, s.opts.MinP)
	}
	if s.opts.TopK > 0 && s.opts.TopK < s.vocab {
		logprobs = topK(logprobs, s.opts.TopK)
	}
	keys := metal.RandomSplit(s.key, 2)
	s.key = metal.Replace(s.key, metal.Reshape(metal.Slice(keys, []int{0, 0}, []int{1, 2}), 2))
	sub := metal.Reshape(metal.Slice(keys, []int{1, 0}, []int{2, 2}), 2)
	return metal.Categorical(metal.MulScalar(logprobs, 1/s.opts.Temperature), -1, sub)
}

// free releases the sampler's arrays.
func (s *sampler) free() {
	metal.FreeAll(s.bias, s.history, s.counts, s.key)
}

// topK masks all but the k largest logprobs.
func topK(logprobs *metal.Array, k int) *metal.Array {
	v := logprobs.Dim(-1)
	idx := metal.Argpartition(metal.Negative(logprobs), k-1, -1)
	drop := metal.Slice(idx, []int{0, k}, []int{idx.Dim(0), v})
	return metal.PutAlongAxis(logprobs, drop, negInf(drop.Shape()), -1)
}

// minP masks tokens below minP times the top probability.
func minP(logprobs *metal.Array, p float64) *metal.Array {
	threshold := metal.AddScalar(metal.Max(logprobs, []int{-1}, true), math.Log(p))
	return metal.Where(metal.Less(logprobs, threshold), negInf(nil), logprobs)
}

// topP keeps the most likely tokens whose mass reaches p: in ascending
// order, a token stays when the cumulative mass up to it exceeds 1 - p.
func topP(logprobs *metal.Array, p float64) *metal.Array {
	order := metal.Argsort(logprobs, -1)
	sorted := metal.TakeAlongAxis(logprobs, order, -1)
	cum := metal.Cumsum(metal.Exp(sorted), -1, false, true)
	kept := metal.Where(metal.Greater(cum, metal.Scalar(1-p, metal.Float32)), sorted, negInf(nil))
	return metal.PutAlongAxis(logprobs, order, kept, -1)
}

// negInf is -inf as float32, broadcast to shape (nil: a scalar).
func negInf(shape []int) *metal.Array {
	return metal.Full(shape, math.Inf(-1), metal.Float32)
}
