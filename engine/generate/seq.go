package generate

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lmx-app/lmx/engine/cache"
)

// seq is one request inside the scheduler.
type seq struct {
	ctx context.Context
	req Request
	fn  Callback
	res *Result

	// MLX thread:
	caches  []cache.Cache
	s       *sampler
	pos     int     // prompt tokens in the cache
	issued  int     // decode steps built
	pending *step   // the last step built, not read yet
	fed     []int32 // the tokens the cache holds or will hold, in order
	spec    *speculation
	// readEarly: this step's token was read before the decode step
	// (constrained sequences).
	readEarly bool
	done      bool
	err       error
	// id and halted: the sequence in a distributed group (lockstep.go).
	id     uint64
	halted int

	submitted, admitted, first, last time.Time

	// stop is set by the caller's goroutine when fn asks to stop.
	stop atomic.Bool

	// Tokens go to the caller's goroutine through out.
	omu    sync.Mutex
	out    []Token
	ended  bool
	endErr error
	notify chan struct{}
}

func newSeq(ctx context.Context, req Request, fn Callback) *seq {
	return &seq{ctx: ctx, req: req, fn: fn, res: &Result{PromptTokens: len(req.Prompt)},
		submitted: time.Now(), notify: make(chan struct{}, 1)}
}

// emit reads a step's token: a stop id ends the sequence, any other token
// is recorded and handed to the caller.
func (q *seq) emit(st *step) (string, error) {
	id, err := st.y.Item()
	if err != nil {
		return "", fmt.Errorf("decode: %w", err)
	}
	now := time.Now()
	if q.first.IsZero() {
		q.first = now
	}
	q.last = now
	tok := Token{ID: int32(id)}
	q.fed = append(q.fed, tok.ID)
	if slices.Contains(q.req.StopIDs, tok.ID) {
		return FinishStop, nil
	}
	if err := readLogprobs(st, &tok); err != nil {
		return "", err
	}
	if c := q.req.Constraint; c != nil {
		if err := c.Consume(tok.ID); err != nil {
			return "", fmt.Errorf("structured output: %w", err)
		}
	}
	q.res.Tokens = append(q.res.Tokens, tok.ID)
	q.omu.Lock()
	q.out = append(q.out, tok)
	q.omu.Unlock()
	q.wake()
	return "", nil
}

// finish marks the sequence done (MLX thread); reap hands it back.
func (q *seq) finish(err error, reason string) {
	q.done, q.err = true, err
	if err == nil {
		q.res.FinishReason = reason
	}
	if !q.first.IsZero() {
		q.res.PrefillTime = q.first.Sub(q.admitted)
		q.res.DecodeTime = q.last.Sub(q.first)
	}
}

// free releases the sequence's MLX state (MLX thread).
func (q *seq) free() {
	q.pending.free()
	q.pending = nil
	q.spec.free()
	if q.s != nil {
		q.s.free()
	}
	freeCaches(q.caches)
	q.caches = nil
}

// end hands the result to the caller's goroutine.
func (q *seq) end(err error) {
	q.omu.Lock()
	q.ended, q.endErr = true, err
	q.omu.Unlock()
	q.wake()
}

func (q *seq) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// consume runs in the caller's goroutine: it passes tokens to fn until the
// scheduler ends the sequence. When fn asks to stop, later tokens (produced
// before the scheduler saw the request) are dropped from the result.
func (q *seq) consume() (*Result, error) {
	// A callback that panics stops the sequence (the scheduler reaps it at
	// its next step) before the panic goes on to the caller's recover.
	defer func() {
		if v := recover(); v != nil {
			q.stop.Store(true)
			panic(v)
		}
	}()
	n, stopAt := 0, -1
	for {
		<-q.notify
		q.omu.Lock()
		toks, ended, err := q.out, q.ended, q.endErr
		q.out = nil
		q.omu.Unlock()
		for _, t := range toks {
			if stopAt < 0 && q.fn != nil && q.fn(t) {
				stopAt = n
				q.stop.Store(true)
			}
			n++
		}
		if !ended {
			continue
		}
		if stopAt >= 0 {
			q.res.Tokens = q.res.Tokens[:stopAt+1]
			q.res.FinishReason = FinishCallback
			return q.res, nil
		}
		return q.res, err
	}
}
