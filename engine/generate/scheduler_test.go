package generate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
)

// sliding reports whether the fixture has sliding-window layers (rotating
// caches, which cannot be cut back once they wrap).
func sliding(t testing.TB, f *fixture) bool {
	return cachesAre(t, f, func(caches []cache.Cache) bool {
		return slices.ContainsFunc(caches, func(c cache.Cache) bool {
			_, ok := c.(*cache.Rotating)
			return ok
		})
	})
}

// cachesAre reports what test says of a fresh set of the fixture's caches.
func cachesAre(t testing.TB, f *fixture, test func([]cache.Cache) bool) bool {
	var is bool
	mlxtest.Do(t, func() error {
		caches, err := f.m.NewCaches(arch.CacheOptions{})
		if err != nil {
			return err
		}
		is = test(caches)
		freeCaches(caches)
		return nil
	})
	return is
}

// batchCase is one request of a batch test.
type batchCase struct {
	prompt []int32
	max    int
	seed   *uint64
}

// batchCases makes n prompts of different lengths from the fixture's vocabulary;
// with shared set, they share long prefixes (a system prompt, a conversation
// growing by turns) so the prefix cache gets hits and partial hits.
func batchCases(f *fixture, n int, shared bool) []batchCase {
	r := rand.New(rand.NewPCG(uint64(f.vocab), 7))
	tok := func() int32 { return int32(3 + r.IntN(f.vocab-3)) }
	system := make([]int32, 40)
	for i := range system {
		system[i] = tok()
	}
	var out []batchCase
	for i := range n {
		var p []int32
		if shared && i%2 == 1 && len(out) > 0 {
			p = append(p, out[len(out)-1].prompt...) // the previous conversation, one turn longer
		} else if shared {
			p = append(p, system[:20+i%20]...)
		}
		for range 1 + (i*7)%23 {
			p = append(p, tok())
		}
		out = append(out, batchCase{prompt: p, max: 4 + (i*5)%21})
	}
	return out
}

// alone runs each case by itself with Generate.
func (f *fixture) alone(t *testing.T, cases []batchCase, req func(batchCase) Request) [][]int32 {
	t.Helper()
	want := make([][]int32, len(cases))
	for i, c := range cases {
		want[i] = f.generate(t, req(c), nil).Tokens
	}
	return want
}

// batched submits the cases to s at staggered times and returns each result.
func batched(t *testing.T, s *Scheduler, cases []batchCase, req func(batchCase) Request, stagger time.Duration) [][]int32 {
	t.Helper()
	got := make([][]int32, len(cases))
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var streamed []int32
			res, err := s.Generate(context.Background(), req(c), func(tok Token) bool {
				streamed = append(streamed, tok.ID)
				return false
			})
			if err == nil && !slices.Equal(streamed, res.Tokens) {
				err = fmt.Errorf("streamed %v but the result has %v", streamed, res.Tokens)
			}
			got[i], errs[i] = tokensOf(res), err
		}()
		time.Sleep(stagger)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return got
}

func tokensOf(r *Result) []int32 {
	if r == nil {
		return nil
	}
	return r.Tokens
}

func newTestScheduler(t *testing.T, f *fixture, opts SchedulerOptions) *Scheduler {
	s := NewScheduler(f.m, f.vocab, opts)
	t.Cleanup(s.Close)
	return s
}

func greedyReq(c batchCase) Request {
	return Request{Prompt: c.prompt, MaxTokens: c.max}
}

// fixtureNames lists every fixture folder (paths: the shared fixtures and
// the repository's own test data), for loadFixture.
func fixtureNames(t *testing.T) []string {
	return testutil.ModelFixtures(t)
}

// Every fixture architecture: 16 greedy requests submitted at staggered
// times, batched, give exactly the tokens each gives alone — also with a
// 1-token prefill chunk, with the prefix cache on, and with fewer places
// than requests (a queue).
func TestBatchedGreedyMatchesAlone(t *testing.T) {
	for _, name := range fixtureNames(t) {
		t.Run(filepath.Base(name), func(t *testing.T) {
			f := loadFixture(t, name)
			variants := []struct {
				name   string
				opts   SchedulerOptions
				chunk  int
				shared bool
				waves  int
			}{
				{"batched", SchedulerOptions{MaxSequences: 16}, 0, false, 1},
				{"1-token prefill chunks", SchedulerOptions{MaxSequences: 16, MaxBatchTokens: 3}, 1, false, 1},
				{"prefix cache", SchedulerOptions{MaxSequences: 16, PrefixCacheBytes: 64 << 20}, 5, true, 2},
				{"queued", SchedulerOptions{MaxSequences: 3, MaxBatchTokens: 16}, 0, true, 1},
			}
			for _, v := range variants {
				t.Run(v.name, func(t *testing.T) {
					cases := batchCases(f, 16, v.shared)
					req := func(c batchCase) Request {
						r := greedyReq(c)
						r.PrefillChunk = v.chunk
						return r
					}
					want := f.alone(t, cases, req)
					s := newTestScheduler(t, f, v.opts)
					// In waves, later requests find the earlier ones cached.
					var got [][]int32
					per := len(cases) / v.waves
					for w := range v.waves {
						got = append(got, batched(t, s, cases[w*per:(w+1)*per], req, 2*time.Millisecond)...)
					}
					for i := range cases {
						if !slices.Equal(got[i], want[i]) {
							t.Errorf("request %d (prompt %d tokens): batched %v, alone %v", i, len(cases[i].prompt), got[i], want[i])
						}
					}
					st := s.Stats()
					if st.DecodeSteps == 0 || st.BatchedRows <= st.DecodeSteps {
						t.Errorf("no step carried more than one sequence: %+v", st)
					}
					if v.opts.PrefixCacheBytes > 0 && st.Prefix.Hits == 0 && !sliding(t, f) && !stateful(t, f) {
						t.Errorf("prefix cache on and shared prefixes, but no hit: %+v", st.Prefix)
					}
				})
			}
		})
	}
}

// Seeded sampling gives the same tokens alone and batched.
func TestBatchedSeededSamplingIsReproducible(t *testing.T) {
	f := loadFixture(t, "qwen3")
	cases := batchCases(f, 8, false)
	req := func(c batchCase) Request {
		seed := uint64(len(c.prompt)) * 31
		return Request{Prompt: c.prompt, MaxTokens: c.max, Logprobs: true, TopLogprobs: 2,
			Sampling: Sampling{Temperature: 0.9, TopP: 0.95, Seed: &seed, RepetitionPenalty: 1.1, PresencePenalty: 0.3}}
	}
	want := f.alone(t, cases, req)
	got := batched(t, newTestScheduler(t, f, SchedulerOptions{}), cases, req, time.Millisecond)
	for i := range cases {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("request %d: batched %v, alone %v", i, got[i], want[i])
		}
	}
}

// A request cancelled mid-batch ends with its context's error and leaves
// the others' tokens untouched.
func TestCancelMidBatchLeavesOthersAlone(t *testing.T) {
	f := loadFixture(t, "llama")
	cases := batchCases(f, 6, false)
	for i := range cases {
		cases[i].max = 30
	}
	want := f.alone(t, cases, greedyReq)
	s := newTestScheduler(t, f, SchedulerOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	got := make([][]int32, len(cases))
	var cancelErr error
	var cancelled *Result
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 2 {
				n := 0
				cancelled, cancelErr = s.Generate(ctx, greedyReq(c), func(Token) bool {
					if n++; n == 3 {
						cancel()
					}
					return false
				})
				return
			}
			res, err := s.Generate(context.Background(), greedyReq(c), nil)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			got[i] = res.Tokens
		}()
	}
	wg.Wait()
	if !errors.Is(cancelErr, context.Canceled) {
		t.Fatalf("cancelled request: err %v", cancelErr)
	}
	if n := len(cancelled.Tokens); n < 3 || n >= 30 {
		t.Errorf("cancelled request produced %d tokens", n)
	}
	for i := range cases {
		if i != 2 && !slices.Equal(got[i], want[i]) {
			t.Errorf("request %d: %v, alone %v", i, got[i], want[i])
		}
	}
}

// Stop ids and a callback stop end a batched request as they end one alone.
func TestBatchedStops(t *testing.T) {
	f := loadFixture(t, "llama")
	want := f.ints["greedy_tokens"]
	prompt := f.ints["greedy_prompt"]
	s := newTestScheduler(t, f, SchedulerOptions{})
	res, err := s.Generate(context.Background(), Request{Prompt: prompt, MaxTokens: 20, StopIDs: []int32{want[3]}}, nil)
	stop := slices.Index(want, want[3])
	if err != nil || res.FinishReason != FinishStop || !slices.Equal(res.Tokens, want[:stop]) {
		t.Errorf("stop id: %v %q %v, want stop after %v", err, res.FinishReason, res.Tokens, want[:stop])
	}
	res, err = s.Generate(context.Background(), Request{Prompt: prompt, MaxTokens: 20}, func(tok Token) bool { return tok.ID == want[5] })
	stop = slices.Index(want, want[5]) + 1
	if err != nil || res.FinishReason != FinishCallback || !slices.Equal(res.Tokens, want[:stop]) {
		t.Errorf("callback stop: %v %q %v, want %v", err, res.FinishReason, res.Tokens, want[:stop])
	}
}

// A request the model cannot run (its KV cache options) fails alone; the
// requests batched with it finish.
func TestBadRequestInBatchFailsAlone(t *testing.T) {
	f := loadFixture(t, "qwen3")
	cases := batchCases(f, 4, false)
	want := f.alone(t, cases, greedyReq)
	s := newTestScheduler(t, f, SchedulerOptions{})
	var wg sync.WaitGroup
	got := make([][]int32, len(cases))
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.Generate(context.Background(), greedyReq(c), nil)
			if err == nil {
				got[i] = res.Tokens
			}
		}()
	}
	bad := Request{Prompt: cases[0].prompt, MaxTokens: 4}
	bad.Cache.KVBits, bad.Cache.KVGroupSize = 4, 64
	if _, err := s.Generate(context.Background(), bad, nil); err == nil {
		t.Error("a KV group size that does not divide head_dim was accepted")
	}
	wg.Wait()
	for i := range cases {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("request %d: %v, alone %v", i, got[i], want[i])
		}
	}
}

// The prefix cache: a conversation one turn longer reuses everything the
// first request fed; a prompt that leaves a cached one reuses up to the
// divergence and says where it diverged; a 1,000-token shared prefix
// prefills only the rest, and its first token comes in under a fifth of
// the cold time. A sliding-window model reuses only what its wrapped
// rotating caches still hold, and says why otherwise.
func TestPrefixCacheReuse(t *testing.T) {
	for _, name := range []string{"llama", "gemma3_text"} {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, name)
			s := newTestScheduler(t, f, SchedulerOptions{PrefixCacheBytes: 256 << 20})
			r := rand.New(rand.NewPCG(1, 2))
			randTokens := func(n int) []int32 {
				out := make([]int32, n)
				for i := range out {
					out[i] = int32(3 + r.IntN(f.vocab-3))
				}
				return out
			}
			run := func(prompt []int32, max int) *Result {
				t.Helper()
				res, err := s.Generate(context.Background(), Request{Prompt: prompt, MaxTokens: max}, nil)
				if err != nil {
					t.Fatal(err)
				}
				alone := f.generate(t, Request{Prompt: prompt, MaxTokens: max}, nil)
				if !slices.Equal(res.Tokens, alone.Tokens) {
					t.Errorf("with the prefix cache %v, alone %v", res.Tokens, alone.Tokens)
				}
				return res
			}
			p1 := randTokens(1000)
			cold := run(p1, 8)
			if cold.CachedTokens != 0 {
				t.Fatalf("first request: %d cached tokens", cold.CachedTokens)
			}
			// The next turn: everything fed so far (the last sampled token
			// never was), then new tokens.
			p2 := append(append(slices.Clone(p1), cold.Tokens...), randTokens(12)...)
			turn := run(p2, 8)
			if want := len(p1) + len(cold.Tokens) - 1; turn.CachedTokens != want {
				t.Errorf("next turn: %d cached tokens, want %d (%s)", turn.CachedTokens, want, turn.Cache.Explain())
			}
			if turn.PrefillTime*5 >= cold.PrefillTime {
				t.Errorf("time to first token with %d cached tokens %v, cold %v: not under 20%%", turn.CachedTokens, turn.PrefillTime, cold.PrefillTime)
			}
			// Leave the cached prompt at token 600.
			p3 := append(slices.Clone(p1[:600]), randTokens(30)...)
			p3[600] = (p1[600]+1)%int32(f.vocab-3) + 3
			left := run(p3, 4)
			h := left.Cache
			if h.Diverged != 600 || h.PromptToken != p3[600] || h.CachedToken != p1[600] {
				t.Errorf("divergence %+v, want at 600 (prompt %d, cache %d)", h, p3[600], p1[600])
			}
			if sliding(t, f) {
				if left.CachedTokens != 0 || !strings.Contains(h.Reason, "wrapped") {
					t.Errorf("wrapped rotating caches: %d cached tokens, reason %q", left.CachedTokens, h.Reason)
				}
			} else if left.CachedTokens != 600 {
				t.Errorf("%d cached tokens, want 600 (%s)", left.CachedTokens, h.Explain())
			}
		})
	}
}

// Speculative decoding: greedy output is the model's own, token for token,
// whatever the draft proposes (another model: few accepted; the model
// itself: all accepted), batched with requests that decode normally; the
// stats count proposals and acceptances.
func TestSpeculativeGreedyIsIdentical(t *testing.T) {
	f := loadFixture(t, "llama")
	cases := batchCases(f, 6, false)
	for i := range cases {
		cases[i].max = 17 + i
	}
	want := f.alone(t, cases, greedyReq)
	for _, draftName := range []string{"mistral", "llama"} {
		t.Run("draft "+draftName, func(t *testing.T) {
			d := loadFixture(t, draftName)
			s := newTestScheduler(t, f, SchedulerOptions{})
			s.SetDraft(&Draft{Model: d.m, NumDraft: 4})
			req := func(c batchCase) Request {
				r := greedyReq(c)
				if len(c.prompt)%2 == 0 {
					r.NumDraft = -1 // this one decodes without the draft, in the batch
				}
				return r
			}
			got := batched(t, s, cases, req, 3*time.Millisecond)
			for i := range cases {
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("request %d: speculative %v, plain %v", i, got[i], want[i])
				}
			}
			st := s.Stats()
			if st.DraftProposed == 0 {
				t.Fatalf("no token was proposed: %+v", st)
			}
			rate := float64(st.DraftAccepted) / float64(st.DraftProposed)
			t.Logf("draft %s: %d proposed, %d accepted (%.0f%%)", draftName, st.DraftProposed, st.DraftAccepted, 100*rate)
			if draftName == "llama" && rate < 0.9 {
				t.Errorf("the model as its own draft: acceptance %.2f, want about 1", rate)
			}
		})
	}
}

// allowList is a Constraint allowing a fixed token set, recording what it
// was fed.
type allowList struct {
	allowed  map[int32]bool
	consumed []int32
	masks    int
}

func (a *allowList) FillMask(dst []uint32) error {
	clear(dst)
	for id := range a.allowed {
		dst[id/32] |= 1 << (id % 32)
	}
	a.masks++
	return nil
}

func (a *allowList) Consume(id int32) error {
	if !a.allowed[id] {
		return fmt.Errorf("token %d not allowed", id)
	}
	a.consumed = append(a.consumed, id)
	return nil
}

// Constrained rows sample only allowed tokens (the mask is applied on the
// device, the constraint sees every token), sampled rows among them too,
// while unconstrained rows of the same batch give their tokens alone.
func TestConstraintMasksItsRowsOnly(t *testing.T) {
	f := loadFixture(t, "qwen2")
	cases := batchCases(f, 8, false)
	want := f.alone(t, cases, greedyReq)
	s := newTestScheduler(t, f, SchedulerOptions{})
	lists := make([]*allowList, len(cases))
	req := func(c batchCase) Request {
		r := greedyReq(c)
		i := slices.IndexFunc(cases, func(x batchCase) bool { return slices.Equal(x.prompt, c.prompt) })
		if i%2 == 0 {
			// Tokens ending in 7: rarely the argmax.
			a := &allowList{allowed: map[int32]bool{}}
			for id := int32(7); id < int32(f.vocab); id += 10 {
				a.allowed[id] = true
			}
			lists[i] = a
			r.Constraint = a
			if i%4 == 0 {
				seed := uint64(i)
				r.Sampling = Sampling{Temperature: 1, Seed: &seed}
			}
		}
		return r
	}
	got := batched(t, s, cases, req, time.Millisecond)
	for i := range cases {
		if a := lists[i]; a != nil {
			if !slices.Equal(a.consumed, got[i]) || len(got[i]) != cases[i].max {
				t.Errorf("constrained request %d: tokens %v, the constraint consumed %v", i, got[i], a.consumed)
			}
			for _, id := range got[i] {
				if id%10 != 7 {
					t.Errorf("constrained request %d sampled token %d", i, id)
				}
			}
			if a.masks != len(got[i]) {
				t.Errorf("constrained request %d: %d masks for %d tokens", i, a.masks, len(got[i]))
			}
			continue
		}
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("unconstrained request %d: %v, alone %v", i, got[i], want[i])
		}
	}
}
