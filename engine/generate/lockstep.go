package generate

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/metal"
)

// ErrGroupUnsupported marks a request a distributed model cannot run yet.
var ErrGroupUnsupported = errors.New("not available on a model split across machines")

// Lockstep keeps the schedulers of a distributed group in step. Every rank
// runs the same scheduler on its part of the model, and every forward pass
// pairs collectives across ranks, so every rank must take exactly the same
// steps. All that a step does follows from its admissions and from which
// sequences end early (a client that went away or stopped); the rest (batch
// composition, prefill chunks, sampling with a fixed seed on logits that are
// identical on every rank, finishing on EOS or length) is deterministic. The
// leader (rank 0) decides those two things at the start of each step and
// sends them; followers take the step with what they received (Follow).
type Lockstep interface {
	// Send hands a step's input to the followers; it runs on the MLX
	// thread before the leader takes the step. An error fails the step.
	Send(in *StepInput) error
}

// StepInput is what one step admits and ends.
type StepInput struct {
	Admit []Admission `json:"admit,omitempty"`
	Halt  []Halt      `json:"halt,omitempty"`
	// The leader's prefix cache since the last step: cleared, then its
	// Evict least recently used entries given back under memory pressure
	// (the one decision that depends on the rank's own memory). The rest
	// of what the prefix cache does follows from the steps.
	Clear bool `json:"clear,omitempty"`
	Evict int  `json:"evict,omitempty"`
}

// Admission is a request joining the batch under the leader's id for it.
type Admission struct {
	ID  uint64      `json:"id"`
	Req WireRequest `json:"req"`
}

// Halt ends a running sequence at this step: Stop when its caller's
// callback asked to stop, otherwise because its caller went away.
type Halt struct {
	ID   uint64 `json:"id"`
	Stop bool   `json:"stop,omitempty"`
}

// WireRequest is the part of a Request that travels to followers.
type WireRequest struct {
	Prompt       []int32           `json:"prompt"`
	MaxTokens    int               `json:"max_tokens"`
	Sampling     Sampling          `json:"sampling"`
	StopIDs      []int32           `json:"stop_ids,omitempty"`
	PrefillChunk int               `json:"prefill_chunk,omitempty"`
	Logprobs     bool              `json:"logprobs,omitempty"`
	TopLogprobs  int               `json:"top_logprobs,omitempty"`
	Cache        arch.CacheOptions `json:"cache"`
}

func toWire(r Request) WireRequest {
	return WireRequest{Prompt: r.Prompt, MaxTokens: r.MaxTokens, Sampling: r.Sampling, StopIDs: r.StopIDs,
		PrefillChunk: r.PrefillChunk, Logprobs: r.Logprobs, TopLogprobs: r.TopLogprobs, Cache: r.Cache}
}

func (w WireRequest) request() Request {
	return Request{Prompt: w.Prompt, MaxTokens: w.MaxTokens, Sampling: w.Sampling, StopIDs: w.StopIDs,
		PrefillChunk: w.PrefillChunk, Logprobs: w.Logprobs, TopLogprobs: w.TopLogprobs, Cache: w.Cache, NumDraft: -1}
}

// forGroup checks and completes a request for a distributed model: what
// followers cannot reproduce is refused, and sampling gets a fixed seed so
// that every rank draws the same tokens.
func forGroup(req *Request) error {
	if req.Constraint != nil {
		return fmt.Errorf("%w: structured output", ErrGroupUnsupported)
	}
	req.NumDraft = -1
	if req.Sampling.Seed == nil {
		var b [8]byte
		_, _ = rand.Read(b[:])
		v := binary.LittleEndian.Uint64(b[:])
		req.Sampling.Seed = &v
	}
	return nil
}

// leaderInput builds this step's input on the leader: the admitted
// sequences get ids, and running sequences whose caller went away or
// stopped are halted (here and, through the input, on every follower).
func (s *Scheduler) leaderInput(admitted []*seq) *StepInput {
	in := &StepInput{Clear: s.prefix.cleared, Evict: s.prefix.pressured}
	s.prefix.cleared, s.prefix.pressured = false, 0
	for _, q := range s.running {
		switch {
		case q.done || q.halted != haltNone:
		case q.stop.Load():
			in.Halt = append(in.Halt, Halt{ID: q.id, Stop: true})
		case q.ctx.Err() != nil:
			in.Halt = append(in.Halt, Halt{ID: q.id})
		}
	}
	for _, q := range admitted {
		s.nextID++
		q.id = s.nextID
		in.Admit = append(in.Admit, Admission{ID: q.id, Req: toWire(q.req)})
	}
	return in
}

// applyHalts marks the halted sequences.
func (s *Scheduler) applyHalts(in *StepInput) {
	for _, h := range in.Halt {
		for _, q := range s.running {
			if q.id == h.ID {
				q.halted = haltCancel
				if h.Stop {
					q.halted = haltStop
				}
			}
		}
	}
}

// Follow takes one step as a follower of a distributed group, with the
// input the leader sent. Runs on the MLX thread (inside metal.Do). A
// follower's scheduler has no loop: its steps come only from here.
func (s *Scheduler) Follow(in *StepInput) error {
	if in.Clear {
		s.prefix.clear()
	}
	s.prefix.evictOldest(in.Evict)
	s.applyHalts(in)
	for _, a := range in.Admit {
		q := newSeq(context.Background(), a.Req.request(), nil)
		q.id = a.ID
		s.start(q, nil)
	}
	err := s.run()
	if err != nil {
		s.failAll(err) // as the leader's loop does after a failed step
	}
	return err
}

// NewFollower returns a scheduler for a follower rank: it runs no loop of
// its own, and its prefix cache (the leader's size, no disk) gives memory
// back only when the leader's does; Follow drives it.
func NewFollower(m arch.Model, vocab int, opts SchedulerOptions) *Scheduler {
	opts.Disk, opts.Lockstep = nil, nil
	opts.MaxSequences = cmp.Or(opts.MaxSequences, DefaultMaxSequences)
	opts.MaxBatchTokens = cmp.Or(opts.MaxBatchTokens, DefaultMaxBatchTokens)
	s := &Scheduler{m: m, vocab: vocab, opts: opts, follower: true, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.prefix = newPrefixCache(opts.PrefixCacheBytes, nil)
	close(s.done)
	return s
}

// Halt kinds of a sequence in a distributed group.
const (
	haltNone = iota
	haltCancel
	haltStop
)

// cancelled reports whether q's caller went away: its context, or in a
// group the leader's decision for this step.
func (s *Scheduler) cancelled(q *seq) bool {
	if s.grouped() {
		return q.halted == haltCancel
	}
	return q.ctx.Err() != nil
}

// stopped reports whether q's callback asked to stop (in a group: the
// leader's decision).
func (s *Scheduler) stopped(q *seq) bool {
	if s.grouped() {
		return q.halted == haltStop
	}
	return q.stop.Load()
}

// cancelErr is the error a cancelled sequence ends with.
func cancelErr(q *seq) error {
	if err := q.ctx.Err(); err != nil {
		return err
	}
	return context.Canceled
}

// grouped reports a scheduler of a distributed group.
func (s *Scheduler) grouped() bool { return s.follower || s.opts.Lockstep != nil }

// evalStep schedules a step's arrays. Alone, asynchronously: the next step
// is built while this one runs. In a group, it waits: a collective that
// failed (a rank is gone) must be seen before any other is issued, because
// MLX's ring fails the operations pending when a peer is lost but never
// completes one issued after.
func (s *Scheduler) evalStep(arrays ...*metal.Array) error {
	if s.grouped() {
		return metal.Eval(arrays...)
	}
	return metal.AsyncEval(arrays...)
}
