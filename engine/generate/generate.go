package generate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/metal"
)

// DefaultPrefillChunk is how many prompt tokens one prefill step processes.
const DefaultPrefillChunk = 512

// ErrEmptyPrompt is returned for a request without prompt tokens.
var ErrEmptyPrompt = errors.New("empty prompt")

// ErrTokenRange is returned for a prompt token outside the vocabulary (MLX
// would index the embedding table out of bounds).
var ErrTokenRange = errors.New("prompt token outside the vocabulary")

// Finish reasons of a Result.
const (
	FinishStop     = "stop"     // an EOS / stop id was generated
	FinishLength   = "length"   // MaxTokens reached
	FinishCallback = "callback" // the callback asked to stop (a stop string)
)

// Request is one generation.
type Request struct {
	Prompt    []int32
	MaxTokens int
	Sampling  Sampling
	// StopIDs end generation (EOS ids); the stop token is not emitted.
	StopIDs []int32
	// PrefillChunk tokens per prefill step (DefaultPrefillChunk when 0).
	PrefillChunk int
	// Logprobs asks for each token's log-probability, TopLogprobs for the
	// most likely alternatives.
	Logprobs    bool
	TopLogprobs int
	Cache       arch.CacheOptions
	// Constraint limits the sampled tokens (structured output); only the
	// Scheduler applies it.
	Constraint Constraint
	// NumDraft is how many tokens a scheduler's draft model proposes per
	// step (0: the scheduler's default; negative: decode without a draft).
	NumDraft int
}

// TokenLogprob is a token and its log-probability.
type TokenLogprob struct {
	ID      int32
	Logprob float64
}

// Token is one generated token as streamed to the callback.
type Token struct {
	ID int32
	// Logprob and Top are set when the request asked for them.
	Logprob float64
	Top     []TokenLogprob
}

// Result summarizes a finished generation.
type Result struct {
	Tokens       []int32
	FinishReason string
	PromptTokens int
	PrefillTime  time.Duration
	DecodeTime   time.Duration
	// QueueTime is how long the request waited for the scheduler.
	QueueTime time.Duration
	// CachedTokens are prompt tokens taken from the prefix cache; Cache
	// says where the cached prefix ended and why.
	CachedTokens int
	Cache        CacheHit
}

// Callback receives each token; returning true stops generation (the
// caller's stop-string check).
type Callback func(Token) (stop bool)

// Generate runs req on m on the MLX thread. Cancelling ctx stops it between
// two decode steps with ctx's error; the tokens so far are in the Result.
func Generate(ctx context.Context, m arch.Model, vocab int, req Request, fn Callback) (*Result, error) {
	if err := req.validate(vocab); err != nil {
		return nil, err
	}
	if req.Constraint != nil {
		return nil, errors.New("constrained generation needs the scheduler")
	}
	res := &Result{PromptTokens: len(req.Prompt)}
	err := metal.Do(ctx, func() error {
		g := &run{ctx: ctx, m: m, req: req, fn: fn, res: res}
		return g.run(vocab)
	})
	return res, err
}

// validate checks a request against a vocabulary of vocab tokens.
func (req *Request) validate(vocab int) error {
	if len(req.Prompt) == 0 {
		return ErrEmptyPrompt
	}
	for i, id := range req.Prompt {
		if id < 0 || int(id) >= vocab {
			return fmt.Errorf("%w: token %d at position %d (vocabulary %d)", ErrTokenRange, id, i, vocab)
		}
	}
	if req.MaxTokens <= 0 {
		return fmt.Errorf("max tokens %d must be positive", req.MaxTokens)
	}
	if err := req.Sampling.Validate(vocab); err != nil {
		return fmt.Errorf("sampling: %w", err)
	}
	return nil
}

// run is the state of one generation on the MLX thread.
type run struct {
	ctx    context.Context
	m      arch.Model
	req    Request
	fn     Callback
	res    *Result
	caches []cache.Cache
	s      *sampler
}

// step is the kept output of one forward + sample: the token and, on
// request, its logprob and the top alternatives.
type step struct {
	y, logprob, topIDs, topLogprobs *metal.Array
}

// free releases the step's arrays.
func (st *step) free() {
	if st != nil {
		metal.FreeAll(st.y, st.logprob, st.topIDs, st.topLogprobs)
	}
}

// run prefills and decodes.
func (g *run) run(vocab int) error {
	caches, err := g.m.NewCaches(g.req.Cache)
	if err != nil {
		return err
	}
	g.caches = caches
	defer freeCaches(caches)
	g.s = newSampler(g.req.Sampling, vocab, g.req.Prompt)
	defer g.s.free()
	start := time.Now()
	last, err := g.prefill()
	if err != nil {
		return err
	}
	cur := g.forward(metal.FromInt32(last, 1, len(last)), nil)
	if err := metal.AsyncEval(cur.y); err != nil {
		cur.free()
		return err
	}
	g.res.PrefillTime = time.Since(start)
	defer func(t time.Time) { g.res.DecodeTime = time.Since(t) }(time.Now())
	return g.decode(cur)
}

// prefill runs all prompt tokens but the last through the caches in chunks
// and returns the remaining one.
func (g *run) prefill() ([]int32, error) {
	chunk := g.req.PrefillChunk
	if chunk <= 0 {
		chunk = DefaultPrefillChunk
	}
	p := g.req.Prompt
	for len(p) > 1 {
		if err := g.ctx.Err(); err != nil {
			return nil, err
		}
		n := min(chunk, len(p)-1)
		// Evaluate after the scope has dropped its handles on the chunk's
		// intermediates: only the caches hold the graph then, so MLX frees
		// each activation as soon as it is consumed.
		metal.Scope(func() { g.m.Hidden(metal.FromInt32(p[:n], 1, n), g.caches) })
		if err := metal.Eval(cacheState(g.caches)...); err != nil {
			return nil, fmt.Errorf("prefill: %w", err)
		}
		p = p[n:]
	}
	return p, nil
}

// decode emits tokens, building step N+1 before waiting for step N.
func (g *run) decode(cur *step) error {
	defer func() { cur.free() }()
	for n := 0; ; n++ {
		var next *step
		if n+1 < g.req.MaxTokens {
			next = g.forward(metal.Reshape(cur.y, 1, 1), cur.y)
			if err := metal.AsyncEval(next.arrays()...); err != nil {
				next.free()
				return err
			}
		}
		done, err := g.emit(cur)
		cur.free()
		cur = next
		if done || err != nil || next == nil {
			if next == nil && !done && err == nil {
				g.res.FinishReason = FinishLength
			}
			return err
		}
		if err := g.ctx.Err(); err != nil {
			return err
		}
	}
}

// emit reads a step's token, checks stop ids and calls the callback.
func (g *run) emit(st *step) (bool, error) {
	// Item reads the sampler's uint32 as is: a conversion to int32 would add
	// a graph node and a second evaluation at every step.
	id, err := st.y.Item()
	if err != nil {
		return true, fmt.Errorf("decode: %w", err)
	}
	tok := Token{ID: int32(id)}
	if slices.Contains(g.req.StopIDs, tok.ID) {
		g.res.FinishReason = FinishStop
		return true, nil
	}
	if err := readLogprobs(st, &tok); err != nil {
		return true, err
	}
	g.res.Tokens = append(g.res.Tokens, tok.ID)
	if g.fn != nil && g.fn(tok) {
		g.res.FinishReason = FinishCallback
		return true, nil
	}
	return false, nil
}

// forward runs ids through the model and samples; prev (the previous token,
// nil after prefill) feeds the penalties first. The result's arrays are kept.
func (g *run) forward(ids, prev *metal.Array) *step {
	st := &step{}
	metal.Scope(func() {
		if prev != nil {
			g.s.observe(prev)
		}
		h := g.m.Hidden(ids, g.caches)
		if l := h.Dim(1); l > 1 {
			h = metal.Slice(h, []int{0, l - 1, 0}, []int{1, l, h.Dim(2)})
		}
		logits := metal.Reshape(metal.Astype(g.m.Logits(h), metal.Float32), 1, -1)
		logits = g.s.process(logits)
		logprobs := metal.Sub(logits, metal.Logsumexp(logits, []int{-1}, true))
		st.y = g.s.sample(logprobs).Keep()
		logprobArrays(st, logprobs, &g.req)
	})
	return st
}

// logprobArrays adds the logprob outputs req asks for to st (kept).
func logprobArrays(st *step, logprobs *metal.Array, req *Request) {
	if req.Logprobs {
		st.logprob = metal.TakeAlongAxis(logprobs, metal.Reshape(st.y, 1, 1), -1).Keep()
	}
	if k := min(req.TopLogprobs, logprobs.Dim(-1)); k > 0 {
		idx := metal.Argpartition(metal.Negative(logprobs), k-1, -1)
		idx = metal.Slice(idx, []int{0, 0}, []int{1, k})
		st.topIDs = idx.Keep()
		st.topLogprobs = metal.TakeAlongAxis(logprobs, idx, -1).Keep()
	}
}

// readLogprobs copies the step's logprob outputs into tok.
func readLogprobs(st *step, tok *Token) error {
	if st.logprob != nil {
		v, err := st.logprob.Item()
		if err != nil {
			return err
		}
		tok.Logprob = v
	}
	if st.topIDs == nil {
		return nil
	}
	ids, err := st.topIDs.Int32s()
	if err != nil {
		return err
	}
	vals, err := st.topLogprobs.Float32s()
	if err != nil {
		return err
	}
	for i, id := range ids {
		tok.Top = append(tok.Top, TokenLogprob{ID: id, Logprob: float64(vals[i])})
	}
	sort.SliceStable(tok.Top, func(i, j int) bool { return tok.Top[i].Logprob > tok.Top[j].Logprob })
	return nil
}

// arrays lists the step's arrays for evaluation.
func (st *step) arrays() []*metal.Array {
	out := []*metal.Array{st.y}
	for _, a := range []*metal.Array{st.logprob, st.topIDs, st.topLogprobs} {
		if a != nil {
			out = append(out, a)
		}
	}
	return out
}

// cacheState lists the arrays of all caches (evaluated after each prefill chunk).
func cacheState(caches []cache.Cache) []*metal.Array {
	var out []*metal.Array
	for _, c := range caches {
		out = append(out, c.State().Arrays...)
	}
	return out
}

// freeCaches releases every cache.
func freeCaches(caches []cache.Cache) {
	for _, c := range caches {
		c.Free()
	}
}
