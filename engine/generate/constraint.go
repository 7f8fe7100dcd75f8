package generate

import (
	"fmt"
	"math"

	"github.com/lmx-app/lmx/metal"
)

// Constraint limits the tokens a request may sample at each step
// (structured output: engine/grammar's Matcher implements it).
type Constraint interface {
	// FillMask writes the tokens allowed next as a bitmask: bit i%32 of
	// word i/32 is token i; len(dst) is (vocab+31)/32.
	FillMask(dst []uint32) error
	// Consume records the sampled token.
	Consume(id int32) error
}

// maskIndex holds, per vocabulary entry, its word and bit in a mask (kept;
// made once per scheduler on the MLX thread).
type maskIndex struct {
	word, bit, one *metal.Array
	words          []uint32
}

func (s *Scheduler) maskIndex() *maskIndex {
	if s.masks == nil {
		words := make([]int32, s.vocab)
		bits := make([]int32, s.vocab)
		for i := range words {
			words[i], bits[i] = int32(i/32), int32(i%32)
		}
		s.masks = &maskIndex{word: metal.FromInt32(words, s.vocab).Keep(), bit: metal.FromInt32(bits, s.vocab).Keep(),
			one: metal.FromInt32([]int32{1}, 1).Keep(), words: make([]uint32, (s.vocab+31)/32)}
	}
	return s.masks
}

// free releases the index.
func (mi *maskIndex) free() {
	if mi != nil {
		metal.FreeAll(mi.word, mi.bit, mi.one)
	}
}

// apply sets the logits [1, V] of tokens the constraint forbids to -inf.
// Only the bitmask (V/8 bytes) crosses from Go; MLX expands it.
func (mi *maskIndex) apply(c Constraint, logits *metal.Array) (*metal.Array, error) {
	if err := c.FillMask(mi.words); err != nil {
		return nil, fmt.Errorf("structured output: %w", err)
	}
	w := make([]int32, len(mi.words))
	for i, x := range mi.words {
		w[i] = int32(x)
	}
	packed := metal.FromInt32(w, len(w))
	// (word >> bit) & 1: an arithmetic shift keeps bit b in place for b < 32.
	bits := metal.BitwiseAnd(metal.RightShift(metal.Take(packed, mi.word, 0), mi.bit), mi.one)
	allowed := metal.Reshape(metal.Equal(bits, mi.one), 1, -1)
	return metal.Where(allowed, logits, metal.Full(nil, math.Inf(-1), metal.Float32)), nil
}

// constrain samples the constrained rows of a decode step: for each, the
// previous token is read (and consumed by the constraint) first, since the
// mask depends on it; meanwhile the device computes the step's forward
// pass. logits[i] is the processed row of batch[i] (kept), nil for rows
// that sampled already. Rows whose previous token finished them are
// dropped from the step.
func (s *Scheduler) constrain(batch []*seq, prev []*step, logits []*metal.Array) error {
	mi := s.maskIndex()
	var arrays []*metal.Array
	for i, q := range batch {
		if logits[i] == nil {
			continue
		}
		row := logits[i]
		if prev[i] != nil {
			s.readOne(q, prev[i])
			prev[i].free()
			prev[i] = nil
			q.readEarly = true
		}
		if q.done {
			continue
		}
		var st *step
		var err error
		metal.Scope(func() {
			var masked *metal.Array
			if masked, err = mi.apply(q.req.Constraint, row); err != nil {
				return
			}
			logprobs := metal.Sub(masked, metal.Logsumexp(masked, []int{-1}, true))
			st = &step{y: q.s.sample(logprobs).Keep()}
			logprobArrays(st, logprobs, &q.req)
		})
		if err != nil {
			q.finish(err, "")
			continue
		}
		q.pending = st
		q.issued++
		arrays = append(arrays, st.arrays()...)
	}
	if len(arrays) == 0 {
		return nil
	}
	return metal.AsyncEval(arrays...)
}
