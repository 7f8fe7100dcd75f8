package generate

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/lmx-app/lmx/metal"
)

// mirror is a Lockstep that hands each step's input to a follower
// scheduler on the same model, inside the leader's step (the MLX thread),
// as a follower rank would take it.
type mirror struct {
	follower *Scheduler
	inputs   []StepInput
	err      error
}

func (m *mirror) Send(in *StepInput) error {
	m.inputs = append(m.inputs, *in)
	if err := m.follower.Follow(in); err != nil && m.err == nil {
		m.err = err
	}
	return nil
}

// prefixTokens lists a prefix cache's entries, most recently used first.
func prefixTokens(p *prefixCache) [][]int32 {
	var out [][]int32
	for e := p.lru.Front(); e != nil; e = e.Next() {
		out = append(out, slices.Clone(e.Value.(*prefixEntry).tokens))
	}
	return out
}

// TestFollowerKeepsTheLeadersPrefixCache runs a leader scheduler whose
// steps a follower takes from the inputs alone (admissions, ends, the
// prefix cache's clear and evictions): conversations that reuse each other's
// prefixes, one request stopped by its callback, then memory pressure that
// makes the leader give entries back, then a clear. The follower must keep
// the same prefix-cache entries (prompt and generated tokens) in the same
// LRU order at every point, having measured no memory of its own.
func TestFollowerKeepsTheLeadersPrefixCache(t *testing.T) {
	f := loadFixture(t, "llama")
	opts := SchedulerOptions{MaxSequences: 4, PrefixCacheBytes: 64 << 20}
	mir := &mirror{follower: NewFollower(f.m, f.vocab, opts)}
	opts.Lockstep = mir
	leader := newTestScheduler(t, f, opts)
	cases := batchCases(f, 10, true)

	round := func() {
		var wg sync.WaitGroup
		for i, c := range cases {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var fn Callback
				if i == 3 {
					n := 0
					fn = func(Token) bool { n++; return n == 2 }
				}
				if _, err := leader.Generate(context.Background(), greedyReq(c), fn); err != nil {
					t.Errorf("request %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
	}
	// compare checks the follower against the leader once the follower has
	// taken the evictions and clear the leader's next step would send.
	compare := func(when string) {
		err := metal.Do(context.Background(), func() error {
			p := mir.follower.prefix
			if leader.prefix.cleared {
				p.clear()
			}
			p.evictOldest(leader.prefix.pressured)
			leader.prefix.cleared, leader.prefix.pressured = false, 0
			if got, want := prefixTokens(p), prefixTokens(leader.prefix); !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("%s: follower's prefix cache %v, leader's %v", when, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	round()
	compare("after the first round")
	round()
	compare("after a round that reuses prefixes")
	if st := leader.Stats().Prefix; st.Hits == 0 || st.Entries == 0 {
		t.Fatalf("the workload never reused a prefix: %+v", st)
	}
	// Memory pressure: the leader gives entries back as MLX's memory
	// nears a tiny limit.
	_ = metal.Do(context.Background(), func() error { leader.opts.MemoryLimit = 1; return nil })
	round()
	if leader.Stats().Prefix.Pressured == 0 {
		t.Fatal("no entry was given back under memory pressure")
	}
	compare("after memory pressure")
	_ = metal.Do(context.Background(), func() error { leader.opts.MemoryLimit = 0; return nil })
	round()
	if err := leader.ClearPrefixCache(context.Background()); err != nil {
		t.Fatal(err)
	}
	compare("after a clear")
	if mir.err != nil {
		t.Fatalf("follower: %v", mir.err)
	}
	var halts, admits int
	for _, in := range mir.inputs {
		halts += len(in.Halt)
		admits += len(in.Admit)
	}
	if admits != 4*len(cases) || halts == 0 {
		t.Errorf("%d admissions (want %d) and %d halts sent", admits, 4*len(cases), halts)
	}
}
