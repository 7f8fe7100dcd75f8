package group_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/group"
	"github.com/lmx-app/lmx/internal/disttest"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/metal"
)

const (
	envModel = "LMX_GROUPTEST_MODEL"
	envSplit = "LMX_GROUPTEST_SPLIT"
)

// outcome is one request's result as a test compares it.
type outcome struct {
	Tokens []int32
	Finish string
	Err    string
	Cached int // prompt tokens from the prefix cache
}

// serving is the scheduler the workload runs on: a prefix cache, so that the
// last request reuses the first one's prompt.
var serving = generate.SchedulerOptions{PrefixCacheBytes: 32 << 20}

// requests is the workload: greedy prompts of different lengths (one batch),
// a seeded sampled one, and one whose callback stops it after 3 tokens.
func requests() []engine.Request {
	seed := uint64(7)
	prompt := func(n, from int) []int32 {
		p := make([]int32, n)
		for i := range p {
			p[i] = int32((from + 131*i) % 5000)
		}
		return p
	}
	reqs := []engine.Request{}
	for i, n := range []int{5, 17, 40, 3} {
		reqs = append(reqs, engine.Request{Request: generate.Request{Prompt: prompt(n, 11*i+1), MaxTokens: 12}, IgnoreEOS: true})
	}
	reqs = append(reqs, engine.Request{Request: generate.Request{Prompt: prompt(9, 500), MaxTokens: 12,
		Sampling: generate.Sampling{Temperature: 0.8, TopP: 0.9, Seed: &seed}}, IgnoreEOS: true})
	reqs = append(reqs, engine.Request{Request: generate.Request{Prompt: prompt(6, 900), MaxTokens: 40}, IgnoreEOS: true})
	return reqs
}

// serve runs the workload on m: all requests at once (one batch), the last
// stopped by its callback after its third token; then the first one again
// alone, after the stop (the ranks must still be in step).
func serve(m *engine.Model) []outcome {
	reqs := requests()
	out := make([]outcome, len(reqs)+1)
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fn generate.Callback
			if i == len(reqs)-1 {
				n := 0
				fn = func(generate.Token) bool { n++; return n == 3 }
			}
			out[i] = result(m.Generate(context.Background(), r, fn))
		}()
	}
	wg.Wait()
	out[len(reqs)] = result(m.Generate(context.Background(), reqs[0], nil))
	return out
}

func result(res *generate.Result, err error) outcome {
	if err != nil {
		return outcome{Err: err.Error()}
	}
	return outcome{Tokens: res.Tokens, Finish: res.FinishReason, Cached: res.CachedTokens}
}

// TestGroupServesLikeOneProcess serves one model from a group of 2 and of 4
// ranks (ring over localhost; tensor parallel, and pipeline on 2): rank 0 loads it through the
// engine and runs a batch of requests (greedy, seeded sampling, one stopped
// by its callback, and a prompt the prefix cache holds) while the other ranks
// follow its steps; every request must give the tokens one process gives,
// taking as many from the prefix cache, and the followers
// must end when the leader closes the group.
func TestGroupServesLikeOneProcess(t *testing.T) {
	mlxtest.Require(t)
	if r, ok := disttest.Rank(); ok {
		groupRank(t, r)
		return
	}
	dir := testmodel.Qwen3Tiny(t, t.TempDir(), "qwen3-tiny")
	m, err := engine.Load(context.Background(), dir, engine.Options{Serving: serving})
	if err != nil {
		t.Fatal(err)
	}
	want := serve(m)
	m.Close(context.Background())
	for _, o := range want {
		if o.Err != "" || len(o.Tokens) == 0 {
			t.Fatalf("one process: %+v", o)
		}
	}
	if got := want[len(want)-2]; got.Finish != generate.FinishCallback || len(got.Tokens) != 3 {
		t.Fatalf("one process: the stopped request gave %+v", got)
	}
	if last := want[len(want)-1]; last.Cached == 0 {
		t.Fatalf("one process: the repeated prompt took nothing from the prefix cache: %+v", last)
	}
	for _, run := range []struct {
		n     int
		split arch.Split
	}{{2, ""}, {4, ""}, {2, arch.PipelineParallel}} {
		n := run.n
		outs := disttest.Run(t, t.Name(), n, disttest.Deadline, envModel+"="+dir, envSplit+"="+string(run.split))
		var got []outcome
		if err := json.Unmarshal(outs[0], &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d ranks: %d results, want %d", n, len(got), len(want))
		}
		for i := range want {
			if !slices.Equal(got[i].Tokens, want[i].Tokens) || got[i].Finish != want[i].Finish || got[i].Err != "" || got[i].Cached != want[i].Cached {
				t.Errorf("%d ranks (split %q), request %d: %+v, one process: %+v", n, run.split, i, got[i], want[i])
			}
		}
		for r := 1; r < n; r++ {
			if s := string(outs[r]); s != `"left with the leader"` {
				t.Errorf("%d ranks: follower %d ended with %s", n, r, s)
			}
		}
	}
}

// followUntilClosed follows the leader until it closes the group, and
// reports that.
func followUntilClosed(t *testing.T, g *metal.Group) {
	err := group.Follow(context.Background(), g, sameDir)
	if !errors.Is(err, group.ErrLeaderGone) {
		t.Fatalf("follower ended with %v", err)
	}
	if err := disttest.Write("left with the leader"); err != nil {
		t.Fatal(err)
	}
}

// sameDir resolves a follower's copy: the leader's path (one machine).
func sameDir(_, dir string) (string, error) { return dir, nil }

// groupRank is one rank of TestGroupServesLikeOneProcess.
func groupRank(t *testing.T, rank int) {
	g := mlxtest.JoinRing(t)
	dir := os.Getenv(envModel)
	if rank != 0 {
		followUntilClosed(t, g)
		return
	}
	leader, err := group.NewLeader(g, group.LeaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(context.Background(), dir, engine.Options{Group: leader, Split: arch.Split(os.Getenv(envSplit)), Serving: serving})
	if err != nil {
		t.Fatal(err)
	}
	out := serve(m)
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mlxtest.Do(t, leader.Close)
	if err := disttest.Write(out); err != nil {
		t.Fatal(err)
	}
}

// TestLostFollower kills a follower (SIGKILL) while rank 0 streams a long
// generation: the request must end with an error naming the lost peer
// within a bounded time, rank 0 must go on serving a model it runs alone,
// and once the follower is started again the group forms anew and the
// split model answers as before.
func TestLostFollower(t *testing.T) {
	mlxtest.Require(t)
	if r, ok := disttest.Rank(); ok {
		lostRank(t, r)
		return
	}
	dir := testmodel.Qwen3Tiny(t, t.TempDir(), "qwen3-tiny")
	g := disttest.Start(t, t.Name(), 2, disttest.Deadline, envModel+"="+dir)
	streaming := filepath.Join(g.Dir(), "streaming")
	waitFile(t, g, streaming)
	g.Kill(1)
	waitFile(t, g, filepath.Join(g.Dir(), "failed"))
	g.Restart(1)
	outs := g.Wait()
	var got lostReport
	if err := json.Unmarshal(outs[0], &got); err != nil {
		t.Fatal(err)
	}
	t.Logf("rank 0: %+v", got)
	if !strings.Contains(got.StreamErr, "peer") || got.FailedAfter > 20*time.Second {
		t.Errorf("the stream ended with %q %v after the kill, want the lost peer within 20 s", got.StreamErr, got.FailedAfter)
	}
	if got.Local.Err != "" || len(got.Local.Tokens) != 12 {
		t.Errorf("rank 0 alone, after the loss: %+v", got.Local)
	}
	if got.Again.Err != "" || !slices.Equal(got.Again.Tokens, got.Before.Tokens) || len(got.Before.Tokens) != 12 {
		t.Errorf("after the group formed again: %+v, before the loss: %+v", got.Again, got.Before)
	}
}

// lostReport is what rank 0 of TestLostFollower saw.
type lostReport struct {
	Before, Local, Again outcome
	StreamErr            string
	FailedAfter          time.Duration
}

// waitFile waits for a rank to create path.
func waitFile(t *testing.T, g *disttest.Group, path string) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.Logs()
	t.Fatalf("no %s", filepath.Base(path))
}

// lostRank is one rank of TestLostFollower.
func lostRank(t *testing.T, rank int) {
	dir := os.Getenv(envModel)
	shared := disttest.SharedDir()
	g := mlxtest.JoinRing(t)
	if rank != 0 {
		// The first run is killed; the restarted one follows until the
		// leader closes the group.
		followUntilClosed(t, g)
		return
	}
	var rep lostReport
	leader, err := group.NewLeader(g, group.LeaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(context.Background(), dir, engine.Options{Group: leader})
	if err != nil {
		t.Fatal(err)
	}
	short := requests()[0]
	rep.Before = result(m.Generate(context.Background(), short, nil))
	long := short
	long.MaxTokens = 100000
	var killedAt time.Time
	_, err = m.Generate(context.Background(), long, func(generate.Token) bool {
		if killedAt.IsZero() {
			killedAt = time.Now()
			os.WriteFile(filepath.Join(shared, "streaming"), nil, 0o600)
		}
		return false
	})
	if err == nil {
		t.Fatal("the stream outlived its follower")
	}
	rep.StreamErr, rep.FailedAfter = err.Error(), time.Since(killedAt)
	m.Close(context.Background())
	os.WriteFile(filepath.Join(shared, "failed"), nil, 0o600)

	// Alone, rank 0 still serves.
	local, err := engine.Load(context.Background(), dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.Local = result(local.Generate(context.Background(), short, nil))
	local.Close(context.Background())

	// The group forms again with the restarted follower.
	var g2 *metal.Group
	mlxtest.Do(t, func() error {
		g.Free()
		if err := metal.DistReset(); err != nil {
			return err
		}
		var err error
		g2, err = metal.DistInit("ring")
		return err
	})
	leader, err = group.NewLeader(g2, group.LeaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err = engine.Load(context.Background(), dir, engine.Options{Group: leader})
	if err != nil {
		t.Fatal(fmt.Errorf("load on the new group: %w", err))
	}
	rep.Again = result(m.Generate(context.Background(), short, nil))
	m.Close(context.Background())
	mlxtest.Do(t, leader.Close)
	if err := disttest.Write(rep); err != nil {
		t.Fatal(err)
	}
}

// hungDeadline is TestHungFollower's deadline for a step of the group.
const hungDeadline = 2 * time.Second

// TestHungFollower freezes a follower (SIGSTOP: its connections stay open,
// it answers nothing, as a frozen machine or a pulled cable) while rank 0
// streams a long generation: the request must fail with an error that says
// the group stopped answering within the deadline (plus slack for the
// step and the loss path), rank 0 must go on serving a model it runs alone,
// and once the frozen machine is restarted (the rank killed and started
// again) the group forms anew and the split model answers as before.
// (Not SIGCONT: a follower resumed in the middle of a collective whose
// connections its leader shut can stay blocked inside MLX's ring backend,
// MLX 0.32, and only a restart frees it.)
func TestHungFollower(t *testing.T) {
	mlxtest.Require(t)
	if r, ok := disttest.Rank(); ok {
		hungRank(t, r)
		return
	}
	dir := testmodel.Qwen3Tiny(t, t.TempDir(), "qwen3-tiny")
	g := disttest.Start(t, t.Name(), 2, disttest.Deadline, envModel+"="+dir)
	waitFile(t, g, filepath.Join(g.Dir(), "streaming"))
	g.Stop(1)
	stoppedAt := time.Now()
	waitFile(t, g, filepath.Join(g.Dir(), "failed"))
	g.Kill(1)
	g.Restart(1)
	outs := g.Wait()
	var got hungReport
	if err := json.Unmarshal(outs[0], &got); err != nil {
		t.Fatal(err)
	}
	failedAfter := got.FailedAt.Sub(stoppedAt)
	t.Logf("rank 0: %+v; failed %v after the freeze", got, failedAfter)
	if !strings.Contains(got.StreamErr, "no answer from the group within 2s") || !got.Lost {
		t.Errorf("the stream ended with %q (group lost: %v), want the group given up for no answer within 2s", got.StreamErr, got.Lost)
	}
	// The deadline counts from the start of the step that hung, just
	// before the freeze.
	if failedAfter < hungDeadline/2 || failedAfter > hungDeadline+10*time.Second {
		t.Errorf("the stream failed %v after the follower froze, want after the %v deadline, within 10 s more", failedAfter, hungDeadline)
	}
	if got.Local.Err != "" || len(got.Local.Tokens) != 12 {
		t.Errorf("rank 0 alone, after the loss: %+v", got.Local)
	}
	if got.Again.Err != "" || !slices.Equal(got.Again.Tokens, got.Before.Tokens) || len(got.Before.Tokens) != 12 {
		t.Errorf("after the group formed again: %+v, before the freeze: %+v", got.Again, got.Before)
	}
	if s := string(outs[1]); s != `"left with the leader"` {
		t.Errorf("the restarted follower ended with %s", s)
	}
}

// hungReport is what rank 0 of TestHungFollower saw.
type hungReport struct {
	Before, Local, Again outcome
	StreamErr            string
	Lost                 bool      // the leader reported the group lost
	FailedAt             time.Time // when the stream failed
}

// hungRank is one rank of TestHungFollower.
func hungRank(t *testing.T, rank int) {
	dir := os.Getenv(envModel)
	shared := disttest.SharedDir()
	g := mlxtest.JoinRing(t)
	if rank != 0 {
		// The first run is frozen and killed; the restarted one follows
		// until the leader closes the group.
		followUntilClosed(t, g)
		return
	}
	var rep hungReport
	leader, err := group.NewLeader(g, group.LeaderOptions{Deadline: hungDeadline})
	if err != nil {
		t.Fatal(err)
	}
	m, err := engine.Load(context.Background(), dir, engine.Options{Group: leader})
	if err != nil {
		t.Fatal(err)
	}
	short := requests()[0]
	rep.Before = result(m.Generate(context.Background(), short, nil))
	long := short
	long.MaxTokens = 100000
	n := 0
	_, err = m.Generate(context.Background(), long, func(generate.Token) bool {
		if n++; n == 1 {
			os.WriteFile(filepath.Join(shared, "streaming"), nil, 0o600)
		}
		return false
	})
	if err == nil {
		t.Fatal("the stream outlived its frozen follower")
	}
	rep.StreamErr, rep.FailedAt = err.Error(), time.Now()
	rep.Lost = errors.Is(leader.Lost(), group.ErrGroupLost)
	m.Close(context.Background())
	os.WriteFile(filepath.Join(shared, "failed"), nil, 0o600)

	// Alone, rank 0 still serves.
	local, err := engine.Load(context.Background(), dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.Local = result(local.Generate(context.Background(), short, nil))
	local.Close(context.Background())

	// The group forms again with the restarted follower.
	var g2 *metal.Group
	mlxtest.Do(t, func() error {
		g.Free()
		if err := metal.DistReset(); err != nil {
			return err
		}
		var err error
		g2, err = metal.DistInit("ring")
		return err
	})
	leader, err = group.NewLeader(g2, group.LeaderOptions{Deadline: hungDeadline})
	if err != nil {
		t.Fatal(err)
	}
	m, err = engine.Load(context.Background(), dir, engine.Options{Group: leader})
	if err != nil {
		t.Fatal(fmt.Errorf("load on the new group: %w", err))
	}
	rep.Again = result(m.Generate(context.Background(), short, nil))
	m.Close(context.Background())
	mlxtest.Do(t, leader.Close)
	if err := disttest.Write(rep); err != nil {
		t.Fatal(err)
	}
}
