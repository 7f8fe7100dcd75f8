package generate

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
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
	// The leader's prefix cache since the last step, in a group whose
	// ranks hold alike caches (tensor parallelism): cleared, then its
	// Evict least recently used entries given back under memory pressure
	// (the one decision that depends on the rank's own memory). The rest
	// of what the prefix cache does follows from the steps.
	Clear bool `json:"clear,omitempty"`
	Evict int  `json:"evict,omitempty"`
	// Prefix, in a pipelined group, is every change the leader made to its
	// prefix cache since the last step, in order, as opcode words (op*
	// below): there each rank's caches hold other layers, so bytes and
	// what can be cut back differ, and followers decide nothing.
	Prefix []uint64 `json:"prefix,omitempty"`
}

// Admission is a request joining the batch under the leader's id for it.
// In a pipelined group, From is the prefix-cache entry the leader reused
// for it (0: none) and Reuse how many of its tokens.
type Admission struct {
	ID    uint64      `json:"id"`
	Req   WireRequest `json:"req"`
	From  uint64      `json:"from,omitempty"`
	Reuse int         `json:"reuse,omitempty"`
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
	in := &StepInput{}
	if s.prefix.logging {
		in.Prefix, s.prefix.ops = s.prefix.ops, nil
	} else {
		in.Clear, in.Evict = s.prefix.cleared, s.prefix.pressured
	}
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
		a := Admission{ID: q.id, Req: toWire(q.req)}
		if s.prefix.logging {
			// Decided here, before the input goes: followers reuse the same.
			var from uint64
			q.caches, q.res.Cache, from = s.prefix.restore(s.m, q.req.Cache, q.req.Prompt)
			if q.caches != nil {
				a.From, a.Reuse = from, q.res.Cache.Tokens
			}
		}
		in.Admit = append(in.Admit, a)
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
	err := s.followPrefix(in)
	if err == nil {
		s.applyHalts(in)
		err = s.admitFollowed(in.Admit)
	}
	if err == nil {
		err = s.run()
	}
	if err != nil {
		s.failAll(err) // as the leader's loop does after a failed step
	}
	return err
}

// followPrefix brings the prefix cache to the leader's state at the start
// of its step.
func (s *Scheduler) followPrefix(in *StepInput) error {
	if s.prefix.replaying {
		return s.prefix.replay(in.Prefix)
	}
	if in.Clear {
		s.prefix.clear()
	}
	s.prefix.evictOldest(in.Evict)
	return nil
}

// admitFollowed starts the leader's admissions, in a pipelined group with
// the prefix-cache entry and token count the leader reused.
func (s *Scheduler) admitFollowed(admit []Admission) error {
	for _, a := range admit {
		q := newSeq(context.Background(), a.Req.request(), nil)
		q.id = a.ID
		if s.prefix.replaying {
			caches, err := s.prefix.reuse(s.m, q.req.Cache, a.From, a.Reuse)
			if err != nil {
				return fmt.Errorf("sequence %d: %w", a.ID, err)
			}
			q.caches = caches
			q.res.Cache = CacheHit{Tokens: a.Reuse, Matched: a.Reuse, Diverged: -1}
		}
		s.start(q, nil)
	}
	return nil
}

// NewFollower returns a scheduler for a follower rank: it runs no loop of
// its own, and its prefix cache (the leader's size, no disk) gives memory
// back only when the leader's does, or, pipelined, does only what the
// leader's did; Follow drives it.
func NewFollower(m arch.Model, vocab int, opts SchedulerOptions) *Scheduler {
	opts.Disk, opts.Lockstep = nil, nil
	opts.MaxSequences = cmp.Or(opts.MaxSequences, DefaultMaxSequences)
	opts.MaxBatchTokens = cmp.Or(opts.MaxBatchTokens, DefaultMaxBatchTokens)
	s := &Scheduler{m: m, vocab: vocab, opts: opts, follower: true, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.prefix = newPrefixCache(opts.PrefixCacheBytes, nil)
	if arch.Pipelined(m) {
		s.prefix.replaying = true
		s.prefix.byID, s.prefix.parked = map[uint64]*prefixEntry{}, map[uint64]parkedSeq{}
	}
	close(s.done)
	return s
}

// The operations of StepInput.Prefix, each an opcode word and its operands.
const (
	opInsert   = iota + 1 // id, n: sequence id's caches, cut to n tokens, become entry id
	opTouch               // id: entry id becomes the most recently used
	opDrop                // id: entry id is dropped for a sequence that extends it
	opEvict               // id: entry id is evicted for the byte limit
	opPressure            // id: entry id is given back under memory pressure
	opClear               // every entry is dropped
)

// opWords is how many words each operation takes, opcode included.
var opWords = map[uint64]int{opInsert: 3, opTouch: 2, opDrop: 2, opEvict: 2, opPressure: 2, opClear: 1}

// leaderDecides reports a pipelined group's prefix cache, in which the
// leader decides what each admission reuses before its step (leaderInput).
func (p *prefixCache) leaderDecides() bool { return p.logging || p.replaying }

// log records an operation for the followers (the leader of a pipelined
// group only).
func (p *prefixCache) log(words ...uint64) {
	if p.logging {
		p.ops = append(p.ops, words...)
	}
}

// parkedSeq is a finished sequence on a follower whose caches wait for the
// leader's word: kept as an entry, or freed.
type parkedSeq struct {
	tokens []int32
	caches []cache.Cache
}

// replay applies the leader's operations (a pipelined group's follower);
// the sequences it parked and the leader did not keep are freed. An error
// means this rank can no longer hold what the leader holds.
func (p *prefixCache) replay(ops []uint64) error {
	defer p.unpark()
	for i := 0; i < len(ops); {
		n := opWords[ops[i]]
		if n == 0 || i+n > len(ops) {
			return fmt.Errorf("prefix cache: the leader sent a malformed operation (opcode %d at word %d of %d)", ops[i], i, len(ops))
		}
		if err := p.apply(ops[i : i+n]); err != nil {
			return fmt.Errorf("prefix cache: %w", err)
		}
		i += n
	}
	return nil
}

// apply performs one operation.
func (p *prefixCache) apply(op []uint64) error {
	if op[0] == opClear {
		p.clear()
		return nil
	}
	id := op[1]
	if op[0] == opInsert {
		return p.unparkAsEntry(id, int(op[2]))
	}
	e := p.byID[id]
	if e == nil {
		return fmt.Errorf("the leader changed entry %d, which this rank does not hold", id)
	}
	switch op[0] {
	case opTouch:
		p.lru.MoveToFront(e.elem)
		return nil
	case opEvict:
		p.st.Evictions++
	case opPressure:
		p.st.Pressured++
	}
	p.remove(e)
	return nil
}

// unparkAsEntry makes the parked sequence id's caches, cut back to n
// tokens, the most recently used entry, as the leader did.
func (p *prefixCache) unparkAsEntry(id uint64, n int) error {
	q, ok := p.parked[id]
	if !ok {
		return fmt.Errorf("the leader kept sequence %d, which this rank did not finish", id)
	}
	delete(p.parked, id)
	for _, c := range q.caches {
		if n > len(q.tokens) || !cutBack(c, n) {
			freeCaches(q.caches)
			return fmt.Errorf("the leader kept %d tokens of sequence %d, but on this rank %w", n, id, cutError{c: c, n: n})
		}
	}
	e := &prefixEntry{id: id, tokens: q.tokens[:n:n], caches: q.caches}
	for _, c := range q.caches {
		e.bytes += int64(c.Bytes())
	}
	e.elem = p.lru.PushFront(e)
	p.byID[id] = e
	p.bytes += e.bytes
	return nil
}

// unpark frees the parked sequences the leader did not keep.
func (p *prefixCache) unpark() {
	for id, q := range p.parked {
		freeCaches(q.caches)
		delete(p.parked, id)
	}
}

// reuse returns caches holding use tokens of entry from, as the leader
// reused them (from 0: none, nil caches), on a pipelined group's follower.
func (p *prefixCache) reuse(m arch.Model, opts arch.CacheOptions, from uint64, use int) ([]cache.Cache, error) {
	if from == 0 {
		if p.limit > 0 && len(opts.LeftPad) == 0 {
			p.st.Misses++
		}
		return nil, nil
	}
	e := p.byID[from]
	if e == nil {
		return nil, fmt.Errorf("prefix cache: the leader reused entry %d, which this rank does not hold", from)
	}
	caches, err := copyOf(m, opts, e, use)
	if err != nil {
		return nil, fmt.Errorf("prefix cache: reuse %d tokens of entry %d as the leader did: %w", use, from, err)
	}
	p.lru.MoveToFront(e.elem)
	p.st.Hits++
	p.st.HitTokens += int64(use)
	return caches, nil
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
