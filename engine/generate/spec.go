package generate

import (
	"fmt"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/metal"
)

// DefaultNumDraft is how many tokens the draft model proposes per step
// (mlx_lm.server's --num-draft-tokens default).
const DefaultNumDraft = 3

// Draft is a smaller model with the same tokenizer that proposes tokens
// for speculative decoding (mlx_lm's --draft-model).
type Draft struct {
	Model arch.Model
	// NumDraft tokens are proposed per step (DefaultNumDraft when 0).
	NumDraft int
}

// SetDraft gives the scheduler a draft model (nil: none) for the requests
// admitted from now on. The caller checks that the tokenizers match and
// keeps the draft model loaded while the scheduler may use it.
func (s *Scheduler) SetDraft(d *Draft) {
	s.mu.Lock()
	s.draft = d
	s.mu.Unlock()
}

// speculation is a sequence's speculative-decoding state.
type speculation struct {
	m      arch.Model
	n      int
	caches []cache.Cache
	pos    int     // prompt tokens in the draft caches
	behind []int32 // accepted tokens the draft has not been fed yet
}

// speculates decides at admission whether q decodes speculatively: a draft
// is set, the request did not turn it off, it has no constraint, and its
// sampling has no penalties (both would have to be rolled back with
// rejected tokens).
func (s *Scheduler) speculates(q *seq, d *Draft) error {
	if d == nil || q.req.NumDraft < 0 || q.req.Constraint != nil || q.s.repetition() || q.s.counts != nil || rotating(q.caches) {
		return nil
	}
	caches, err := d.Model.NewCaches(q.req.Cache)
	if err != nil {
		return fmt.Errorf("draft model: %w", err)
	}
	if rotating(caches) {
		freeCaches(caches)
		return nil
	}
	n := q.req.NumDraft
	if n == 0 {
		n = d.NumDraft
	}
	if n <= 0 {
		n = DefaultNumDraft
	}
	q.spec = &speculation{m: d.Model, n: n, caches: caches}
	return nil
}

// rotating reports whether any cache is a rotating one: rejected draft
// tokens could not be cut from it once it wraps, so such models (sliding
// windows, a max KV size) decode without a draft.
func rotating(caches []cache.Cache) bool {
	for _, c := range caches {
		if _, ok := c.(*cache.Rotating); ok {
			return true
		}
	}
	// A state cache (convolution or recurrent state) cannot be cut back at
	// all.
	return cache.HasState(caches)
}

// free releases the draft caches.
func (sp *speculation) free() {
	if sp != nil {
		freeCaches(sp.caches)
		sp.caches = nil
	}
}

// prefillDraft brings the draft's caches up to the main model's prompt
// position (the draft is small: no budget).
func (sp *speculation) prefill(q *seq) error {
	for sp.pos < q.pos {
		n := min(DefaultPrefillChunk, q.pos-sp.pos)
		p := q.req.Prompt[sp.pos : sp.pos+n]
		metal.Scope(func() { sp.m.Hidden(metal.FromInt32(p, 1, n), sp.caches) })
		if err := metal.AsyncEval(cacheState(sp.caches)...); err != nil {
			return fmt.Errorf("draft prefill: %w", err)
		}
		sp.pos += n
	}
	return nil
}

// speculate runs one speculative step for every speculating sequence that
// is ready: the draft proposes up to n tokens, the model checks them in one
// forward pass and keeps the longest run it agrees with plus its own next
// token. Each position's token is the model's own sample, so the output is
// the model's (greedy: identical to decoding without a draft).
func (s *Scheduler) speculate() error {
	for _, q := range s.running {
		if q.spec == nil || q.done || q.pos < len(q.req.Prompt)-1 {
			continue
		}
		if err := q.spec.prefill(q); err != nil {
			return err
		}
		if err := s.specStep(q); err != nil {
			return err
		}
	}
	return nil
}

// specStep is one draft-and-verify round of q.
func (s *Scheduler) specStep(q *seq) error {
	sp := q.spec
	next := q.fed[len(q.fed)-1] // the last prompt or accepted token, not fed yet
	k := min(sp.n, q.req.MaxTokens-q.issued-1)
	var steps []*step
	var drafts *metal.Array
	metal.Scope(func() {
		// Draft: feed what it is behind on, then propose k tokens greedily.
		feed := metal.FromInt32(append(append([]int32{}, sp.behind...), next), 1, len(sp.behind)+1)
		proposed := make([]*metal.Array, 0, k)
		for range k {
			h := sp.m.Hidden(feed, sp.caches)
			if l := h.Dim(1); l > 1 {
				h = metal.Slice(h, []int{0, l - 1, 0}, []int{1, l, h.Dim(2)})
			}
			tok := metal.Astype(metal.Argmax(metal.Reshape(sp.m.Logits(h), 1, -1), -1, false), metal.Int32)
			proposed = append(proposed, tok)
			feed = metal.Reshape(tok, 1, 1)
		}
		ids := []*metal.Array{metal.FromInt32([]int32{next}, 1)}
		ids = append(ids, proposed...)
		in := metal.Reshape(metal.Concatenate(ids, 0), 1, k+1)
		if k > 0 {
			drafts = metal.Concatenate(proposed, 0).Keep()
		}
		// Verify: the model's distribution at each of the k+1 positions.
		logits := metal.Astype(s.m.Logits(s.m.Hidden(in, q.caches)), metal.Float32)
		logits = metal.Reshape(logits, k+1, -1)
		for i := range k + 1 {
			row := metal.Slice(logits, []int{i, 0}, []int{i + 1, logits.Dim(1)})
			row = q.s.process(row)
			logprobs := metal.Sub(row, metal.Logsumexp(row, []int{-1}, true))
			st := &step{y: q.s.sample(logprobs).Keep()}
			logprobArrays(st, logprobs, &q.req)
			steps = append(steps, st)
		}
	})
	defer func() {
		for _, st := range steps {
			st.free()
		}
		drafts.Free()
	}()
	var arrays []*metal.Array
	for _, st := range steps {
		arrays = append(arrays, st.arrays()...)
	}
	if drafts != nil {
		arrays = append(arrays, drafts)
	}
	if err := metal.Eval(arrays...); err != nil {
		return err
	}
	var proposed []int32
	if drafts != nil {
		var err error
		if proposed, err = drafts.Int32s(); err != nil {
			return err
		}
	}
	// Accept while the model's token is the draft's.
	accepted := 0
	for accepted < k {
		id, err := steps[accepted].y.Item()
		if err != nil {
			return err
		}
		if int32(id) != proposed[accepted] {
			break
		}
		accepted++
	}
	// The model holds next and the k proposals; keep next and the accepted.
	for _, c := range q.caches {
		c.Trim(k - accepted)
	}
	switch {
	case k == 0:
		// Nothing proposed: the draft did not run and is behind by next too.
		sp.behind = append(sp.behind, next)
	default:
		// The draft was fed its backlog, next and the first k-1 proposals.
		fed := len(sp.behind) + k
		keep := len(sp.behind) + 1 + min(accepted, k-1)
		for _, c := range sp.caches {
			c.Trim(fed - keep)
		}
		sp.behind = sp.behind[:0]
		if accepted == k {
			sp.behind = append(sp.behind, proposed[k-1])
		}
	}
	s.count(func(st *Stats) { st.DraftProposed += int64(k); st.DraftAccepted += int64(accepted) })
	for i := 0; i <= accepted; i++ {
		q.issued++
		s.readOne(q, steps[i])
		if q.done {
			break
		}
	}
	return nil
}
