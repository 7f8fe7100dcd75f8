package generate

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/disttest"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// envPipeModel tells the ranks of TestPipelinedFollowerKeepsTheLeadersPrefixCache
// the model folder.
const envPipeModel = "LMX_TEST_PIPE_MODEL"

// pipeDeadline bounds the test's group (it takes seconds): ranks whose
// caches leave each other's positions hang in the pipeline's collectives.
const pipeDeadline = 2 * time.Minute

// Prefix-cache budgets of the pipelined test. The leader's is a few
// entries of the fixture, so that capacity evictions happen; the
// follower's is far larger, so that a follower deciding anything from its
// own bytes would keep entries the leader evicted.
const (
	pipeLeaderBytes   = 192 << 10
	pipeFollowerBytes = 64 << 20
)

// pipeMsg is what the test's leader sends its follower: a step's input, a
// checkpoint at which both record their prefix cache, or the end.
type pipeMsg struct {
	Step  *StepInput `json:"step,omitempty"`
	Check string     `json:"check,omitempty"`
	Done  bool       `json:"done,omitempty"`
}

// pipeReport is what a rank of the test saw.
type pipeReport struct {
	// Snapshots are the prefix cache's entries (tokens, most recently used
	// first) and Stats its counters at each checkpoint.
	Snapshots map[string][][]int32
	Stats     map[string]PrefixStats
	// Reused is the prompt tokens each admission (by id) took from the
	// prefix cache: the leader's decisions as sent, what the follower used.
	Reused map[uint64]int
	// The leader's: each round's greedy tokens per case, the cached tokens
	// its results report, and what its step inputs carried.
	Tokens             [][][]int32
	Cached             int
	Ops, Halts, Admits int
	FromEntries        int
	Kinds              map[uint64]int // prefix-cache operations by opcode
}

func newPipeReport() *pipeReport {
	return &pipeReport{Snapshots: map[string][][]int32{}, Stats: map[string]PrefixStats{}, Reused: map[uint64]int{}, Kinds: map[uint64]int{}}
}

// TestPipelinedFollowerKeepsTheLeadersPrefixCache runs two-rank pipelined
// groups (each process runs part of the layers, through MLX's ring backend
// over localhost): the leader's scheduler sends every step's input to a
// follower scheduler, which takes it through Follow. The workload is
// TestFollowerKeepsTheLeadersPrefixCache's (conversations that reuse each
// other's prefixes, a request stopped by its callback, memory pressure, a
// clear), with a leader budget small enough for capacity evictions and a
// follower budget far larger. At every checkpoint the follower must hold
// the leader's entries in the leader's LRU order with the same counters,
// every admission must reuse the same number of tokens on both ranks, and
// the greedy tokens must be those of one process with the prefix cache on.
// Plain attention must reuse, evict and give back; sliding-window and
// convolution-state layers, whose caches cannot always be cut back, must
// agree all the same.
func TestPipelinedFollowerKeepsTheLeadersPrefixCache(t *testing.T) {
	for _, c := range []struct {
		name      string
		mustReuse bool
	}{{"llama", true}, {"gpt_oss_l3", false}, {"lfm2_h80", false}} {
		t.Run(c.name, func(t *testing.T) {
			if r, ok := disttest.Rank(); ok {
				pipePrefixRank(t, r, os.Getenv(envPipeModel))
				return
			}
			i := slices.IndexFunc(fixtureNames(t), func(dir string) bool { return filepath.Base(dir) == c.name })
			if i < 0 {
				t.Fatalf("no fixture %s", c.name)
			}
			dir := fixtureNames(t)[i]
			testPipelinedPrefix(t, loadFixture(t, dir), dir, c.mustReuse)
		})
	}
}

// testPipelinedPrefix runs the group on the model in dir (f, loaded whole)
// and checks it.
func testPipelinedPrefix(t *testing.T, f *fixture, dir string, mustReuse bool) {
	outs := disttest.Run(t, t.Name(), 2, pipeDeadline, envPipeModel+"="+dir)
	reps := make([]pipeReport, 2)
	for r, b := range outs {
		if err := json.Unmarshal(b, &reps[r]); err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	leader, follower := reps[0], reps[1]
	comparePipeRanks(t, leader, follower)

	st := leader.Stats["after a clear"]
	k := leader.Kinds
	t.Logf("leader: %d reuses of %d admissions; %d prefix-cache words sent: %d inserts, %d touches, %d drops, %d evictions, %d given back, %d clears; at the clear %+v",
		leader.FromEntries, leader.Admits, leader.Ops, k[opInsert], k[opTouch], k[opDrop], k[opEvict], k[opPressure], k[opClear], st)
	if mustReuse && (st.Hits == 0 || st.Evictions == 0 || st.Pressured == 0 || leader.FromEntries == 0) {
		t.Errorf("the leader's prefix cache must have reused, evicted for its budget and given back under pressure: %+v", st)
	}
	if k[opInsert] == 0 || k[opClear] == 0 || leader.Halts == 0 || leader.Admits != 5*len(pipeCases(f.vocab)) {
		t.Errorf("step inputs carried %d inserts, %d clears, %d halts and %d admissions (want %d)",
			k[opInsert], k[opClear], leader.Halts, leader.Admits, 5*len(pipeCases(f.vocab)))
	}
	if n := len(leader.Snapshots["after a clear"]); n != 0 {
		t.Errorf("%d entries after a clear", n)
	}
	sent := 0
	for _, n := range leader.Reused {
		sent += n
	}
	if sent != leader.Cached {
		t.Errorf("the leader sent %d reused tokens but its results report %d", sent, leader.Cached)
	}

	// One process, the whole model, the prefix cache on: the same tokens.
	s := newTestScheduler(t, f, SchedulerOptions{MaxSequences: 4, PrefixCacheBytes: 64 << 20})
	if len(leader.Tokens) != 5 {
		t.Fatalf("the leader ran %d rounds, want 5", len(leader.Tokens))
	}
	for r, got := range leader.Tokens {
		want, _ := pipeRound(t, s, pipeCases(f.vocab))
		for i := range want {
			if !slices.Equal(got[i], want[i]) {
				t.Errorf("round %d, case %d: pipelined group's tokens %v, one process's %v", r, i, got[i], want[i])
			}
		}
	}
	if mustReuse && s.Stats().Prefix.Hits == 0 {
		t.Error("the one-process reference never reused a prefix")
	}
}

// comparePipeRanks checks the follower's prefix cache against the leader's.
func comparePipeRanks(t *testing.T, leader, follower pipeReport) {
	t.Helper()
	if len(leader.Snapshots) != len(follower.Snapshots) {
		t.Errorf("%d checkpoints on the leader, %d on the follower", len(leader.Snapshots), len(follower.Snapshots))
	}
	for label, want := range leader.Snapshots {
		if got := follower.Snapshots[label]; !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: follower's prefix cache %v, leader's %v", label, got, want)
		}
		l, f := leader.Stats[label], follower.Stats[label]
		if l.Hits != f.Hits || l.HitTokens != f.HitTokens || l.Misses != f.Misses || l.Entries != f.Entries ||
			l.Evictions != f.Evictions || l.Pressured != f.Pressured {
			t.Errorf("%s: follower's prefix counters %+v, leader's %+v", label, f, l)
		}
	}
	if len(leader.Reused) == 0 || len(leader.Reused) != len(follower.Reused) {
		t.Errorf("%d admissions on the leader, %d on the follower", len(leader.Reused), len(follower.Reused))
	}
	for id, n := range leader.Reused {
		if got, ok := follower.Reused[id]; !ok || got != n {
			t.Errorf("admission %d: the follower reused %d tokens (seen: %v), the leader %d", id, got, ok, n)
		}
	}
}

// pipeCases is the workload of every round: batchCases', and the first
// case again with more tokens to generate (its greedy tokens extend the
// first's, so one's entry replaces or covers the other's).
func pipeCases(vocab int) []batchCase {
	cases := batchCases(&fixture{vocab: vocab}, 10, true)
	return append(cases, batchCase{prompt: cases[0].prompt, max: cases[0].max + 6})
}

// pipeRound submits the cases at once (the fourth stopped by its callback
// after two tokens) and returns each one's tokens, and the prompt tokens
// their results report as cached.
func pipeRound(t *testing.T, s *Scheduler, cases []batchCase) ([][]int32, int) {
	t.Helper()
	out := make([][]int32, len(cases))
	cached := make([]int, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		wg.Go(func() {
			var fn Callback
			if i == 3 {
				n := 0
				fn = func(Token) bool { n++; return n == 2 }
			}
			res, err := s.Generate(context.Background(), greedyReq(c), fn)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			out[i], cached[i] = res.Tokens, res.CachedTokens
		})
	}
	wg.Wait()
	sum := 0
	for _, n := range cached {
		sum += n
	}
	return out, sum
}

// pipePrefixRank is one rank of the test: rank 0 leads, rank 1 follows.
func pipePrefixRank(t *testing.T, rank int, dir string) {
	g := mlxtest.JoinRing(t)
	var m arch.Model
	vocab := 0
	mlxtest.Do(t, func() error {
		var cfg *model.Config
		var err error
		if m, cfg, err = arch.LoadParallel(dir, arch.Parallel{Group: g, Split: arch.PipelineParallel}); err != nil {
			return err
		}
		if !arch.Pipelined(m) {
			return fmt.Errorf("%s did not load pipelined", dir)
		}
		vocab = cfg.VocabSize
		return nil
	})
	defer mlxtest.Do(t, func() error { arch.FreeModel(m); return nil })
	rep := newPipeReport()
	if rank == 0 {
		pipeLead(t, g, m, vocab, rep)
	} else {
		pipeFollow(t, g, m, vocab, rep)
	}
	if err := disttest.Write(rep); err != nil {
		t.Fatal(err)
	}
}

// pipeSender is the leader's Lockstep: each step's input goes to the
// follower, and what it carries is counted.
type pipeSender struct {
	g   *metal.Group
	rep *pipeReport
}

func (p *pipeSender) Send(in *StepInput) error {
	p.count(in)
	for _, a := range in.Admit {
		p.rep.Reused[a.ID] = a.Reuse
		if a.From != 0 {
			p.rep.FromEntries++
		}
	}
	p.rep.Halts += len(in.Halt)
	p.rep.Admits += len(in.Admit)
	_, err := broadcastMsg(p.g, &pipeMsg{Step: in})
	return err
}

// count tallies the prefix-cache operations of an input.
func (p *pipeSender) count(in *StepInput) {
	p.rep.Ops += len(in.Prefix)
	for i := 0; i < len(in.Prefix) && opWords[in.Prefix[i]] > 0; i += opWords[in.Prefix[i]] {
		p.rep.Kinds[in.Prefix[i]]++
	}
}

// pipeLead runs the leader: five rounds, with checkpoints.
func pipeLead(t *testing.T, g *metal.Group, m arch.Model, vocab int, rep *pipeReport) {
	send := &pipeSender{g: g, rep: rep}
	s := NewScheduler(m, vocab, SchedulerOptions{MaxSequences: 4, PrefixCacheBytes: pipeLeaderBytes, Lockstep: send})
	cases := pipeCases(vocab)
	round := func() {
		toks, cached := pipeRound(t, s, cases)
		rep.Tokens = append(rep.Tokens, toks)
		rep.Cached += cached
	}
	// check sends what the leader's prefix cache did since its last step,
	// then both ranks record their caches.
	check := func(label string) {
		mlxtest.Do(t, func() error {
			in := s.leaderInput(nil)
			send.count(in)
			rep.Snapshots[label], rep.Stats[label] = prefixTokens(s.prefix), s.prefix.stats()
			_, err := broadcastMsg(g, &pipeMsg{Step: in, Check: label})
			return err
		})
	}
	setLimit := func(n int64) {
		mlxtest.Do(t, func() error { s.opts.MemoryLimit = n; return nil })
	}
	round()
	check("after the first round")
	round()
	check("after a round that reuses prefixes")
	setLimit(1) // memory pressure: entries go back as MLX's memory nears it
	round()
	check("after memory pressure")
	setLimit(0)
	round()
	if err := s.ClearPrefixCache(context.Background()); err != nil {
		t.Error(err)
	}
	check("after a clear")
	round()
	check("after refilling")
	s.Close()
	mlxtest.Do(t, func() error {
		_, err := broadcastMsg(g, &pipeMsg{Done: true})
		return err
	})
}

// pipeFollow runs the follower until the leader is done.
func pipeFollow(t *testing.T, g *metal.Group, m arch.Model, vocab int, rep *pipeReport) {
	s := NewFollower(m, vocab, SchedulerOptions{MaxSequences: 4, PrefixCacheBytes: pipeFollowerBytes})
	for done := false; !done; {
		mlxtest.Do(t, func() error {
			msg, err := broadcastMsg(g, nil)
			if err != nil {
				return err
			}
			done = msg.Done
			if msg.Step != nil {
				if err := s.Follow(msg.Step); err != nil {
					return err
				}
				recordReuse(s, msg.Step, rep)
			}
			if msg.Check != "" {
				rep.Snapshots[msg.Check], rep.Stats[msg.Check] = prefixTokens(s.prefix), s.prefix.stats()
			}
			return nil
		})
	}
	mlxtest.Do(t, func() error { s.prefix.clear(); s.prefix.unpark(); return nil })
}

// recordReuse records the cached tokens the follower's new sequences
// started with (-1: the admission is not running).
func recordReuse(s *Scheduler, in *StepInput, rep *pipeReport) {
	for _, a := range in.Admit {
		rep.Reused[a.ID] = -1
		for _, q := range s.running {
			if q.id == a.ID {
				rep.Reused[a.ID] = q.res.CachedTokens
			}
		}
	}
}

// broadcastMsg sends the leader's message to every rank and returns it
// there (msg nil on the others): its length, then its JSON as int32 words,
// each through an all_sum to which the others add zeros. MLX thread.
func broadcastMsg(g *metal.Group, msg *pipeMsg) (*pipeMsg, error) {
	var b []byte
	if msg != nil {
		var err error
		if b, err = json.Marshal(msg); err != nil {
			return nil, err
		}
	}
	n, err := metal.AllSum(metal.FromInt32([]int32{int32(len(b))}, 1), g).Int32s()
	if err != nil {
		return nil, err
	}
	if n[0] < 0 {
		return nil, fmt.Errorf("a message of %d bytes: the ranks' collectives are out of step", n[0])
	}
	padded := make([]byte, (int(n[0])+3)/4*4)
	copy(padded, b)
	words := make([]int32, len(padded)/4)
	for i := range words {
		words[i] = int32(binary.LittleEndian.Uint32(padded[i*4:]))
	}
	sum, err := metal.AllSum(metal.FromInt32(words, len(words)), g).Int32s()
	if err != nil {
		return nil, err
	}
	for i, w := range sum {
		binary.LittleEndian.PutUint32(padded[i*4:], uint32(w))
	}
	got := &pipeMsg{}
	if err := json.Unmarshal(padded[:n[0]], got); err != nil {
		return nil, fmt.Errorf("message from the leader: %w", err)
	}
	return got, nil
}

// A follower that cannot do what the leader's prefix-cache operations say
// (a malformed list, an entry or a sequence it does not hold) fails with an
// error that says so instead of guessing, and frees what it parked.
func TestPrefixReplayRefusesWhatItCannotFollow(t *testing.T) {
	for _, c := range []struct {
		name string
		ops  []uint64
		want string
	}{
		{"unknown opcode", []uint64{99}, "malformed"},
		{"cut short", []uint64{opInsert, 5}, "malformed"},
		{"unknown sequence", []uint64{opInsert, 7, 3}, "did not finish"},
		{"unknown entry", []uint64{opEvict, 4}, "does not hold"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPrefixCache(1<<20, nil)
			p.replaying, p.byID, p.parked = true, map[uint64]*prefixEntry{}, map[uint64]parkedSeq{}
			p.parked[5] = parkedSeq{tokens: []int32{1, 2, 3}}
			err := p.replay(c.ops)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("replay %v: %v, want an error saying %q", c.ops, err, c.want)
			}
			if len(p.parked) != 0 {
				t.Errorf("%d sequences still parked", len(p.parked))
			}
		})
	}
	p := newPrefixCache(1<<20, nil)
	p.replaying, p.byID = true, map[uint64]*prefixEntry{}
	if _, err := p.reuse(nil, arch.CacheOptions{}, 3, 5); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Errorf("reusing an entry the follower does not hold: %v", err)
	}
}
