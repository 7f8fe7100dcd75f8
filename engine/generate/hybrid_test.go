package generate

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
)

// stateFixtures loads every model fixture (shared and the repository's
// testdata) whose caches hold a recurrent or convolution state: the hybrid
// architectures (LFM2, Qwen3-Next, Qwen3.5), found by what their caches
// are, not by name. A fixture that does not load is left to the fixture
// tests to report.
func stateFixtures(t *testing.T) map[string]*fixture {
	mlxtest.Require(t)
	out := map[string]*fixture{}
	for _, dir := range testutil.ModelFixtures(t, "stories260k") {
		f, err := readFixture(t, dir)
		if err != nil {
			t.Logf("%s: %v (not checked here)", filepath.Base(dir), err)
			continue
		}
		if stateful(t, f) {
			out[filepath.Base(dir)] = f
		}
	}
	if len(out) == 0 {
		t.Skip("no fixture with state caches")
	}
	return out
}

// stateful reports whether the fixture's caches hold a recurrent or
// convolution state, which cannot be cut back: a prompt that shares only
// part of a cached sequence (not the whole of it) misses the prefix cache
// (TestStateModelsPrefixCache checks the hits these models do get).
func stateful(t testing.TB, f *fixture) bool {
	return cachesAre(t, f, cache.HasState)
}

// Hybrid models in the scheduler: batched greedy requests (their decode
// steps share a batch through cache.Rows, each row stepping its own state)
// give the tokens each gives alone, with 1-token prefill chunks, with the
// prefix cache and queued; the greedy reference comes out of Generate.
func TestStateModelsBatchedMatchAlone(t *testing.T) {
	for name, f := range stateFixtures(t) {
		t.Run(name, func(t *testing.T) {
			want := f.ints["greedy_tokens"]
			res := f.generate(t, Request{Prompt: f.ints["greedy_prompt"], MaxTokens: len(want), PrefillChunk: 3}, nil)
			if !slices.Equal(res.Tokens, want) {
				t.Errorf("greedy tokens %v, want %v", res.Tokens, want)
			}
			variants := []struct {
				name  string
				opts  SchedulerOptions
				chunk int
				waves int
			}{
				{"batched", SchedulerOptions{MaxSequences: 8}, 0, 1},
				{"1-token prefill chunks", SchedulerOptions{MaxSequences: 8, MaxBatchTokens: 3}, 1, 1},
				{"prefix cache", SchedulerOptions{MaxSequences: 8, PrefixCacheBytes: 64 << 20}, 5, 2},
				{"queued", SchedulerOptions{MaxSequences: 3, MaxBatchTokens: 16}, 0, 1},
			}
			for _, v := range variants {
				t.Run(v.name, func(t *testing.T) {
					cases := batchCases(f, 8, v.waves > 1)
					req := func(c batchCase) Request {
						r := greedyReq(c)
						r.PrefillChunk = v.chunk
						return r
					}
					want := f.alone(t, cases, req)
					s := newTestScheduler(t, f, v.opts)
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
					if st := s.Stats(); st.DecodeSteps == 0 || st.BatchedRows <= st.DecodeSteps {
						t.Errorf("no step carried more than one sequence: %+v", st)
					}
				})
			}
		})
	}
}

// The prefix cache with state caches: the next turn of a conversation
// reuses the state saved at exactly the end of the previous one; a prompt
// that leaves the cached one midway cannot (a state cannot be rewound), so
// it is a miss that says why; the tokens are always the model's own.
func TestStateModelsPrefixCache(t *testing.T) {
	for name, f := range stateFixtures(t) {
		t.Run(name, func(t *testing.T) {
			s := newTestScheduler(t, f, SchedulerOptions{PrefixCacheBytes: 64 << 20})
			r := rand.New(rand.NewPCG(3, 4))
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
			p1 := randTokens(60)
			cold := run(p1, 6)
			p2 := append(append(slices.Clone(p1), cold.Tokens...), randTokens(7)...)
			turn := run(p2, 6)
			if want := len(p1) + len(cold.Tokens) - 1; turn.CachedTokens != want {
				t.Errorf("next turn: %d cached tokens, want %d (%s)", turn.CachedTokens, want, turn.Cache.Explain())
			}
			p3 := append(slices.Clone(p1[:30]), randTokens(10)...)
			p3[30] = (p1[30]+1)%int32(f.vocab-3) + 3
			left := run(p3, 4)
			if left.CachedTokens != 0 || left.Cache.Reason == "" {
				t.Errorf("left the cached prompt midway: %d cached tokens, reason %q", left.CachedTokens, left.Cache.Reason)
			}
			t.Logf("divergence: %s", left.Cache.Explain())
		})
	}
}

// Speculative decoding needs caches it can cut back: with state caches the
// draft is not used (no proposal), and the output is the model's own.
func TestStateModelsDecodeWithoutDraft(t *testing.T) {
	for name, f := range stateFixtures(t) {
		t.Run(name, func(t *testing.T) {
			cases := batchCases(f, 3, false)
			want := f.alone(t, cases, greedyReq)
			s := newTestScheduler(t, f, SchedulerOptions{})
			s.SetDraft(&Draft{Model: f.m, NumDraft: 4})
			got := batched(t, s, cases, greedyReq, time.Millisecond)
			for i := range cases {
				if !slices.Equal(got[i], want[i]) {
					t.Errorf("request %d: with a draft set %v, alone %v", i, got[i], want[i])
				}
			}
			if st := s.Stats(); st.DraftProposed != 0 {
				t.Errorf("a draft proposed %d tokens for a model with state caches", st.DraftProposed)
			}
		})
	}
}

// KV-cache options on hybrids: quantized KV caches (for the attention
// layers only; the state stays as it is) decode close to the reference and
// batch exactly as alone, where the group size divides the head dim; a
// group that does not, and a bounded KV cache, are refused up front.
func TestStateModelsKVCacheOptions(t *testing.T) {
	for name, f := range stateFixtures(t) {
		t.Run(name, func(t *testing.T) {
			prompt, want := f.ints["greedy_prompt"], f.ints["greedy_tokens"]
			_, err := Generate(context.Background(), f.m, f.vocab, Request{Prompt: prompt, MaxTokens: 3,
				Cache: arch.CacheOptions{MaxKVSize: 64}}, nil)
			if !errors.Is(err, arch.ErrCacheOptions) {
				t.Errorf("bounded KV cache: err %v, want ErrCacheOptions", err)
			}
			opts := arch.CacheOptions{KVBits: 8, KVGroupSize: 32}
			res, err := Generate(context.Background(), f.m, f.vocab, Request{Prompt: prompt, MaxTokens: len(want), Cache: opts}, nil)
			if errors.Is(err, arch.ErrCacheOptions) {
				t.Logf("8-bit KV, group 32: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Tokens[:5], want[:5]) {
				t.Errorf("8-bit KV cache: %v, want to start like %v", res.Tokens, want[:5])
			}
			cases := batchCases(f, 6, false)
			req := func(c batchCase) Request { r := greedyReq(c); r.Cache = opts; return r }
			alone := f.alone(t, cases, req)
			got := batched(t, newTestScheduler(t, f, SchedulerOptions{MaxSequences: 6}), cases, req, time.Millisecond)
			for i := range cases {
				if !slices.Equal(got[i], alone[i]) {
					t.Errorf("request %d with 8-bit KV: batched %v, alone %v", i, got[i], alone[i])
				}
			}
		})
	}
}
