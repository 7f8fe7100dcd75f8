package generate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/metal"
)

// ErrSchedulerClosed is returned for requests to a closed scheduler.
var ErrSchedulerClosed = errors.New("scheduler closed")

// Scheduler defaults (the serving settings override them).
const (
	DefaultMaxSequences   = 16
	DefaultMaxBatchTokens = 512
)

// SchedulerOptions bound what one scheduler step does.
type SchedulerOptions struct {
	// MaxSequences is the most sequences prefilling or decoding at once;
	// later requests wait in arrival order.
	MaxSequences int
	// MaxBatchTokens is the most prompt tokens prefilled in one step, across
	// sequences, so that running streams get a token every step.
	MaxBatchTokens int
	// PrefixCacheBytes bounds the prefix cache (0: no prefix cache).
	PrefixCacheBytes int64
	// Disk keeps reused prefixes on disk across restarts (nil: none; used
	// only with a prefix cache).
	Disk *DiskCache
	// MemoryLimit is the MLX active memory above which the prefix cache
	// gives memory back (0: MLX's memory limit).
	MemoryLimit int64
	// Lockstep, set on the leader of a distributed group, sends each
	// step's input to the followers (no disk cache, draft model or
	// structured output in a group yet). The prefix cache works in both
	// splits: with alike caches on every rank (tensor parallelism) each
	// rank's makes the same decisions; pipelined, the leader's decide.
	Lockstep Lockstep
}

// Scheduler runs the generations of one model with continuous batching:
// one goroutine drives the MLX thread step by step; each step admits
// waiting requests (restoring the longest cached prefix of their prompt),
// prefills a bounded number of prompt tokens, and runs one decode step for
// every sequence whose prompt is in, as one batch in which each sequence
// keeps its own cache (cache.Rows). A sequence leaves the batch the step it
// finishes. Each step is its own metal.Do, so the schedulers of several
// loaded models take turns on the MLX thread.
type Scheduler struct {
	m     arch.Model
	vocab int
	opts  SchedulerOptions

	mu     sync.Mutex
	queue  []*seq
	closed bool
	stats  Stats

	wake chan struct{}
	done chan struct{}

	draft *Draft
	masks *maskIndex   // structured output's mask expansion, made on first use
	batch *decodeBatch // the decode batch as merged caches (MLX thread)

	// MLX thread / loop goroutine only:
	running []*seq
	prefix  *prefixCache

	follower bool   // a follower rank's scheduler (Follow drives it)
	nextID   uint64 // the leader's last sequence id
}

// NewScheduler starts a scheduler for m (vocabulary vocab).
func NewScheduler(m arch.Model, vocab int, opts SchedulerOptions) *Scheduler {
	if opts.MaxSequences <= 0 {
		opts.MaxSequences = DefaultMaxSequences
	}
	if opts.MaxBatchTokens <= 0 {
		opts.MaxBatchTokens = DefaultMaxBatchTokens
	}
	if opts.Lockstep != nil {
		opts.Disk = nil
	}
	s := &Scheduler{m: m, vocab: vocab, opts: opts, wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.prefix = newPrefixCache(opts.PrefixCacheBytes, opts.Disk)
	s.prefix.logging = opts.Lockstep != nil && arch.Pipelined(m)
	go s.loop()
	return s
}

// Generate queues req and waits for it, streaming tokens to fn (which may be
// nil) from the caller's goroutine: a slow fn never holds up the batch. The
// contract is Generate's: cancelling ctx ends the request with ctx's error
// within a step, and fn returning true ends it with FinishCallback.
func (s *Scheduler) Generate(ctx context.Context, req Request, fn Callback) (*Result, error) {
	if err := req.validate(s.vocab); err != nil {
		return nil, err
	}
	if s.follower {
		return nil, fmt.Errorf("%w: a follower rank takes requests from its leader only", ErrGroupUnsupported)
	}
	if s.opts.Lockstep != nil {
		if err := forGroup(&req); err != nil {
			return nil, err
		}
	}
	q := newSeq(ctx, req, fn)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrSchedulerClosed
	}
	s.queue = append(s.queue, q)
	s.stats.Requests++
	s.mu.Unlock()
	s.signal()
	return q.consume()
}

// Close fails waiting requests, lets running ones finish, frees the prefix
// cache and stops the loop.
func (s *Scheduler) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	queued := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, q := range queued {
		q.end(ErrSchedulerClosed)
	}
	s.signal()
	<-s.done
}

// ClearPrefixCache drops every cached prefix (memory only; files on disk stay).
func (s *Scheduler) ClearPrefixCache(ctx context.Context) error {
	return metal.Do(ctx, func() error {
		s.prefix.clear()
		s.publishPrefix()
		return nil
	})
}

func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// loop runs steps while there is work.
func (s *Scheduler) loop() {
	defer close(s.done)
	for s.waitWork() {
		if err := s.doStep(); err != nil {
			s.failAll(err)
		}
	}
	_ = metal.Do(context.Background(), func() error {
		s.prefix.clear()
		s.masks.free()
		return nil
	})
}

// waitWork blocks until a request is queued or running; false once closed
// and idle.
func (s *Scheduler) waitWork() bool {
	for {
		s.mu.Lock()
		busy, closed := len(s.running) > 0 || len(s.queue) > 0, s.closed
		s.mu.Unlock()
		if busy {
			return true
		}
		if closed {
			return false
		}
		<-s.wake
	}
}

// doStep runs one step on the MLX thread; a panic there fails the running
// requests instead of the process.
func (s *Scheduler) doStep() (err error) {
	defer func() {
		if r := recover(); r != nil {
			// Logged with the MLX thread's stack (metal.PanicError).
			err = fmt.Errorf("generation step failed: %w", safe.Panicked("generation step", r))
		}
	}()
	return metal.Do(context.Background(), func() error {
		safe.Point("scheduler.step")
		return s.step()
	})
}

// failAll ends every running sequence with err and frees their state.
func (s *Scheduler) failAll(err error) {
	running := s.running
	_ = metal.Do(context.Background(), func() error {
		if s.batch != nil {
			freeCaches(s.batch.caches)
			s.batch = nil
		}
		for _, q := range running {
			q.free()
		}
		return nil
	})
	s.mu.Lock()
	s.running = nil
	s.stats.Active = 0
	s.stats.Failed += int64(len(running))
	s.mu.Unlock()
	for _, q := range running {
		q.end(err)
	}
}

// step is one scheduling round (MLX thread).
func (s *Scheduler) step() error {
	if err := s.admit(); err != nil {
		return err
	}
	return s.run()
}

// run is a step after admission: prefill, decode, read, reap.
func (s *Scheduler) run() error {
	if err := s.prefill(); err != nil {
		return err
	}
	old := make([]*step, len(s.running))
	for i, q := range s.running {
		old[i], q.pending = q.pending, nil
	}
	if err := s.decode(old); err != nil {
		// failAll frees what decode built; the previous steps are freed here
		// (putting them back only where decode had built nothing leaked the
		// others).
		for _, st := range old {
			st.free()
		}
		return err
	}
	if err := s.speculate(); err != nil {
		return err
	}
	s.read(old)
	s.reap()
	return nil
}

// admit moves waiting requests into the running set, up to MaxSequences,
// and drops cancelled ones from the queue. On the leader of a group it
// sends the step's input first; that failing fails the step.
func (s *Scheduler) admit() error {
	s.mu.Lock()
	draft := s.draft
	var admitted, cancelled []*seq
	kept := s.queue[:0]
	for _, q := range s.queue {
		switch {
		case q.ctx.Err() != nil:
			cancelled = append(cancelled, q)
		case len(s.running)+len(admitted) < s.opts.MaxSequences:
			admitted = append(admitted, q)
		default:
			kept = append(kept, q)
		}
	}
	clear(s.queue[len(kept):])
	s.queue = kept
	s.stats.Queued = len(kept)
	s.mu.Unlock()
	for _, q := range cancelled {
		q.end(q.ctx.Err())
	}
	if s.opts.Lockstep != nil {
		in := s.leaderInput(admitted)
		if err := s.opts.Lockstep.Send(in); err != nil {
			for _, q := range admitted {
				freeCaches(q.caches) // a pipelined group's leader restored them
				q.end(err)
			}
			return err
		}
		s.applyHalts(in)
	}
	for _, q := range admitted {
		s.start(q, draft)
	}
	return nil
}

// start gives an admitted sequence its caches (from the prefix cache when
// it has part of the prompt) and sampler.
func (s *Scheduler) start(q *seq, draft *Draft) {
	q.admitted = time.Now()
	q.res.QueueTime = q.admitted.Sub(q.submitted)
	caches, hit := q.caches, q.res.Cache
	if !s.prefix.leaderDecides() { // otherwise decided already (lockstep.go)
		caches, hit, _ = s.prefix.restore(s.m, q.req.Cache, q.req.Prompt)
	}
	if caches == nil {
		var err error
		if caches, err = s.m.NewCaches(q.req.Cache); err != nil {
			q.end(err)
			return
		}
	}
	q.caches = caches
	q.pos = hit.Tokens
	q.res.CachedTokens = hit.Tokens
	q.res.Cache = hit
	q.s = newSampler(q.req.Sampling, s.vocab, q.req.Prompt)
	q.fed = append(q.fed, q.req.Prompt...)
	if err := s.speculates(q, draft); err != nil {
		q.free()
		q.end(err)
		return
	}
	s.running = append(s.running, q)
	s.publishPrefix()
}

// prefill runs up to MaxBatchTokens prompt tokens, oldest sequence first,
// each in chunks of its PrefillChunk. A sequence whose prompt is in but for
// its last token is ready to decode.
func (s *Scheduler) prefill() error {
	budget := s.opts.MaxBatchTokens
	for _, q := range s.running {
		if budget == 0 {
			break
		}
		if q.done || s.cancelled(q) {
			continue
		}
		rest := len(q.req.Prompt) - 1 - q.pos
		if rest <= 0 {
			continue
		}
		chunk := q.req.PrefillChunk
		if chunk <= 0 {
			chunk = DefaultPrefillChunk
		}
		n := min(chunk, budget, rest)
		p := q.req.Prompt[q.pos : q.pos+n]
		// As in Generate: evaluate once the scope has dropped the chunk's
		// intermediates, so only the caches hold the graph. In a group the
		// hidden states are evaluated too: every rank must run the same
		// collectives, and a pipeline's send to the next rank is in no
		// cache of the sending rank.
		var h *metal.Array
		metal.Scope(func() {
			h = s.m.Hidden(metal.FromInt32(p, 1, n), q.caches)
			if s.grouped() {
				h.Keep()
			} else {
				h = nil
			}
		})
		arrays := cacheState(q.caches)
		if h != nil {
			arrays = append(arrays, h)
		}
		err := s.evalStep(arrays...)
		metal.FreeAll(h)
		if err != nil {
			return fmt.Errorf("prefill: %w", err)
		}
		q.pos += n
		budget -= n
		s.count(func(st *Stats) { st.PrefillTokens += int64(n) })
	}
	return nil
}

// decode builds one decode step for every sequence that has its prompt in
// and tokens left to produce, feeding each the token of its previous step
// (old[i], not read yet) or the last prompt token, and schedules it.
func (s *Scheduler) decode(old []*step) error {
	var batch []*seq
	var prev []*step
	for i, q := range s.running {
		if q.done || q.spec != nil || q.pos < len(q.req.Prompt)-1 || q.issued >= q.req.MaxTokens {
			continue
		}
		batch = append(batch, q)
		prev = append(prev, old[i])
	}
	if len(batch) == 0 {
		return nil
	}
	var arrays []*metal.Array
	rows := make([]*metal.Array, len(batch)) // constrained rows' logits, kept
	constrained := false
	metal.Scope(func() {
		ids := s.inputs(batch, prev)
		for i, q := range batch {
			if prev[i] != nil {
				q.s.observe(prev[i].y)
			}
		}
		h := s.m.Hidden(ids, s.batchCaches(batch))
		logits := metal.Astype(s.m.Logits(h), metal.Float32)
		logits = metal.Reshape(logits, len(batch), -1)
		if len(batch) > 1 && allPlain(batch) {
			// One log-softmax and one argmax for the whole batch: the
			// same row-wise operations as per row, a few kernels instead
			// of a few per row.
			y := metal.Argmax(metal.Sub(logits, metal.Logsumexp(logits, []int{-1}, true)), -1, false)
			for i, q := range batch {
				st := &step{y: metal.Slice(y, []int{i}, []int{i + 1}).Keep()}
				q.pending = st
				q.issued++
				arrays = append(arrays, st.y)
			}
			return
		}
		for i, q := range batch {
			row := logits
			if len(batch) > 1 {
				row = metal.Slice(logits, []int{i, 0}, []int{i + 1, logits.Dim(1)})
			}
			row = q.s.process(row)
			if q.req.Constraint != nil {
				// Sampled by constrain once the mask is known.
				rows[i] = row.Keep()
				arrays = append(arrays, row)
				constrained = true
				continue
			}
			logprobs := metal.Sub(row, metal.Logsumexp(row, []int{-1}, true))
			st := &step{y: q.s.sample(logprobs).Keep()}
			logprobArrays(st, logprobs, &q.req)
			q.pending = st
			q.issued++
			arrays = append(arrays, st.arrays()...)
		}
	})
	if err := s.evalStep(arrays...); err != nil {
		metal.FreeAll(rows...)
		return err
	}
	s.count(func(st *Stats) { st.DecodeSteps++; st.BatchedRows += int64(len(batch)) })
	if !constrained {
		return nil
	}
	defer metal.FreeAll(rows...)
	return s.constrain(batch, prev, rows)
}

// allPlain reports whether every sequence of batch samples greedily with
// nothing to apply first and nothing to report but the token.
func allPlain(batch []*seq) bool {
	for _, q := range batch {
		if q.req.Constraint != nil || q.req.Logprobs || q.req.TopLogprobs > 0 || !q.s.plain() {
			return false
		}
	}
	return true
}

// inputs is the [B, 1] token batch: each sequence's previous sampled token
// (still on the device) or its last prompt token. A lone sequence is fed
// exactly as Generate feeds it.
func (s *Scheduler) inputs(batch []*seq, prev []*step) *metal.Array {
	parts := make([]*metal.Array, len(batch))
	mixed := slices.Contains(prev, nil) // host ids (int32) beside sampled ones (uint32)
	for i, q := range batch {
		if prev[i] != nil {
			parts[i] = metal.Reshape(prev[i].y, 1, 1)
			if mixed {
				parts[i] = metal.Astype(parts[i], metal.Int32)
			}
			continue
		}
		parts[i] = metal.FromInt32(q.req.Prompt[len(q.req.Prompt)-1:], 1, 1)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return metal.Concatenate(parts, 0)
}

// read emits the tokens of the previous step (old[i] of running[i]) and
// marks sequences that are finished.
func (s *Scheduler) read(old []*step) {
	for i, q := range s.running {
		st := old[i]
		switch {
		case q.readEarly:
			// constrain read (and freed) it already.
			q.readEarly = false
		case st == nil:
			if !q.done && s.cancelled(q) {
				q.finish(cancelErr(q), "")
			}
		default:
			s.readOne(q, st)
			st.free()
		}
	}
}

// readOne emits the token of q's step st and finishes q when it ends there.
func (s *Scheduler) readOne(q *seq, st *step) {
	reason, err := q.emit(st)
	switch {
	case err != nil:
		q.finish(err, "")
	case reason != "":
		q.finish(nil, reason)
	case s.stopped(q):
		q.finish(nil, FinishCallback)
	case s.cancelled(q):
		q.finish(cancelErr(q), "")
	case q.pending == nil && q.issued >= q.req.MaxTokens:
		q.finish(nil, FinishLength)
	}
}

// reap removes finished sequences, handing their caches to the prefix cache.
func (s *Scheduler) reap() {
	var finished []*seq
	for _, q := range s.running {
		if q.done {
			finished = append(finished, q)
		}
	}
	if s.batch.holds(finished) {
		s.unbatch()
	}
	kept := s.running[:0]
	var ended []*seq
	for _, q := range s.running {
		if !q.done {
			kept = append(kept, q)
			continue
		}
		ended = append(ended, q)
		q.pending.free()
		q.pending = nil
		q.s.free()
		q.spec.free()
		if q.err == nil || errors.Is(q.err, context.Canceled) || errors.Is(q.err, context.DeadlineExceeded) {
			s.prefix.keep(q.req.Cache, q.id, q.fed, q.caches)
		} else {
			freeCaches(q.caches)
		}
		q.caches = nil
	}
	clear(s.running[len(kept):])
	s.running = kept
	if len(ended) > 0 {
		if !s.follower { // a follower repeats the leader's evictions instead
			s.prefix.fit(s.opts.MemoryLimit)
		}
		s.publishPrefix()
	}
	s.mu.Lock()
	s.stats.Active = len(s.running)
	for _, q := range ended {
		s.stats.record(q)
	}
	s.mu.Unlock()
	for _, q := range ended {
		q.end(q.err)
	}
}

// count updates the stats under the lock.
func (s *Scheduler) count(fn func(*Stats)) {
	s.mu.Lock()
	fn(&s.stats)
	s.mu.Unlock()
}

// publishPrefix copies the prefix cache's counters into the stats.
func (s *Scheduler) publishPrefix() {
	p := s.prefix.stats()
	s.count(func(st *Stats) { st.Prefix = p })
}
