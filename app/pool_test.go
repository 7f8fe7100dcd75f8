package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/store"
)

// poolApp returns an app running the real MLX engine, with settings edited
// by edit (the prefix cache's share zero unless edit sets it) and n copies
// of the stories260k chat model in its library; it returns their ids.
func poolApp(t *testing.T, n int, edit func(*store.Settings)) (*App, []string) {
	t.Helper()
	mlxtest.Require(t)
	db := openStore(t, "")
	if _, err := db.UpdateSettings(func(s *store.Settings) error {
		s.Cache.PromptCacheBytes = 0
		edit(s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Version: "v-test"}, db, MetalEngine(), SystemMemory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	// MLX's limits belong to the process: give the next test MLX's own.
	t.Cleanup(func() { _ = a.applyMemoryLimits(store.DefaultSettings()) })
	if err := a.LoadEngine(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var ids []string
	for i := range n {
		id := testmodel.StoriesChat(t, dir, "stories-"+string(rune('a'+i)))
		a.addRunFolder(id)
		ids = append(ids, id)
	}
	return a, ids
}

// storiesNeed is the pool's estimate of one stories260k copy (no prefix
// cache share).
func storiesNeed(t *testing.T, dir string) int64 {
	t.Helper()
	est, err := engine.Estimate(dir, 0, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return est.Total()
}

// loaded is the app's loaded model ids.
func loaded(a *App) []string { return a.LoadedModels() }

// waitFor polls cond for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("after %v: %s", limit, what)
		}
	}
}

// greedy generates n greedy tokens from prompt, ignoring EOS.
func greedy(ctx context.Context, m *engine.Model, prompt []int32, n int) ([]int32, error) {
	res, err := m.Generate(ctx, engine.Request{Request: generate.Request{Prompt: prompt, MaxTokens: n}, IgnoreEOS: true}, nil)
	if err != nil {
		return nil, err
	}
	return res.Tokens, nil
}

func TestPoolRefusesALoadOverBudget(t *testing.T) {
	a, ids := poolApp(t, 1, func(s *store.Settings) {
		s.Memory.LimitBytes = 1_000_000
		s.Cache.PromptCacheBytes = 200_000
	})
	err := a.LoadPoolModel(context.Background(), ids[0])
	if !errors.Is(err, ErrOverBudget) || !errors.Is(err, api.ErrUnavailable) {
		t.Fatalf("load over budget: %v", err)
	}
	est, _ := engine.Estimate(ids[0], 0, engine.Options{})
	for _, want := range []string{
		"needs " + gb(est.Total()+200_000), "weights " + gb(est.WeightBytes), "KV " + gb(est.KVBytes) + " at 512 tokens",
		"prefix cache " + gb(200_000), "the memory budget is " + gb(1_000_000),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if len(loaded(a)) != 0 {
		t.Errorf("loaded %v after a refused load", loaded(a))
	}
	st, err := a.PoolStatus(context.Background())
	if err != nil || st.BudgetBytes != 1_000_000 || st.BudgetSource != "memory.limit_bytes" || st.ReservedBytes != 0 {
		t.Errorf("pool %+v, %v", st, err)
	}
}

func TestPoolIdleUnloadFreesMemory(t *testing.T) {
	a, ids := poolApp(t, 1, func(s *store.Settings) { s.IdleUnloadSec = 1 })
	ctx := context.Background()
	before, err := engine.MemoryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reqCtx, endRequest := context.WithCancel(ctx)
	defer endRequest()
	m, err := a.Model(reqCtx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	weights := m.Info().WeightBytes
	during, _ := engine.MemoryStats(ctx)
	if grew := during.Active - before.Active; grew < weights {
		t.Fatalf("active memory grew %d on load, weights are %d", grew, weights)
	}
	// A request holds the model: idle time only counts once it ends.
	time.Sleep(1500 * time.Millisecond)
	if !slices.Contains(loaded(a), ids[0]) {
		t.Fatal("unloaded while a request held it")
	}
	if _, err := greedy(ctx, m, []int32{1}, 4); err != nil {
		t.Fatal(err)
	}
	endRequest()
	start := time.Now()
	waitFor(t, 10*time.Second, "the idle model did not unload", func() bool { return len(loaded(a)) == 0 })
	if idle := time.Since(start); idle < 900*time.Millisecond {
		t.Errorf("unloaded %v after its last request, idle_unload_sec is 1", idle)
	}
	waitFor(t, 5*time.Second, "the unloaded model's memory was not freed", func() bool {
		after, _ := engine.MemoryStats(ctx)
		return during.Active-after.Active >= weights && after.Active-before.Active < weights/10
	})
}

func TestPoolUnloadsTheLeastRecentlyUsed(t *testing.T) {
	t.Run("budget", func(t *testing.T) {
		a, ids := poolApp(t, 3, func(*store.Settings) {})
		need := storiesNeed(t, ids[0])
		if _, err := a.UpdateSettings(func(s *store.Settings) error { s.Memory.LimitBytes = 2*need + need/2; return nil }); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids[:2] {
			if err := a.LoadPoolModel(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
		use(t, a, ids[0]) // ids[1] is now the least recently used
		if err := a.LoadPoolModel(context.Background(), ids[2]); err != nil {
			t.Fatal(err)
		}
		if got, want := loaded(a), sorted(ids[0], ids[2]); !slices.Equal(got, want) {
			t.Errorf("loaded %v, want %v", got, want)
		}
	})
	t.Run("max models", func(t *testing.T) {
		a, ids := poolApp(t, 2, func(s *store.Settings) { s.Pool.MaxModels = 1 })
		for _, id := range ids {
			if err := a.LoadPoolModel(context.Background(), id); err != nil {
				t.Fatal(err)
			}
		}
		if got := loaded(a); !slices.Equal(got, ids[1:]) {
			t.Errorf("loaded %v, want %v", got, ids[1:])
		}
	})
}

// use runs one request on the model id.
func use(t *testing.T, a *App, id string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := a.Model(ctx, id)
	if err == nil {
		_, err = greedy(ctx, m, []int32{1}, 2)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// sorted returns ids sorted.
func sorted(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestPoolKeepsPinnedAndBusyModels(t *testing.T) {
	a, ids := poolApp(t, 2, func(*store.Settings) {})
	need := storiesNeed(t, ids[0])
	if _, err := a.UpdateSettings(func(s *store.Settings) error { s.Memory.LimitBytes = need + need/2; return nil }); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.PinModel(ids[0], true); err != nil {
		t.Fatal(err)
	}
	if err := a.LoadPoolModel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	err := a.LoadPoolModel(ctx, ids[1])
	if !errors.Is(err, ErrOverBudget) || !strings.Contains(err.Error(), ids[0]+" is pinned") {
		t.Errorf("load beside a pinned model: %v", err)
	}
	if err := a.PinModel(ids[0], false); err != nil {
		t.Fatal(err)
	}
	// Unpinned but busy: a request holds it.
	reqCtx, endRequest := context.WithCancel(ctx)
	if _, err := a.Model(reqCtx, ids[0]); err != nil {
		t.Fatal(err)
	}
	err = a.LoadPoolModel(ctx, ids[1])
	if !errors.Is(err, ErrOverBudget) || !strings.Contains(err.Error(), ids[0]+" is serving 1 requests") {
		t.Errorf("load beside a busy model: %v", err)
	}
	endRequest()
	waitFor(t, 5*time.Second, "the request's hold did not end", func() bool {
		st, _ := a.PoolStatus(ctx)
		return len(st.Models) == 1 && st.Models[0].Requests == 0
	})
	if err := a.LoadPoolModel(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if got := loaded(a); !slices.Equal(got, ids[1:]) {
		t.Errorf("loaded %v, want %v", got, ids[1:])
	}
}

func TestPoolServesTwoModelsInterleaved(t *testing.T) {
	a, ids := poolApp(t, 1, func(*store.Settings) {})
	demo := testmodel.Demo(t)
	a.addRunFolder(demo)
	ids = append(ids, demo)
	prompts := map[string][]int32{ids[0]: {1, 403, 261, 378}, demo: {1, 504, 3458, 314}}
	const n = 6
	ctx := context.Background()
	alone := map[string][]int32{}
	for _, id := range ids {
		reqCtx, endRequest := context.WithCancel(ctx)
		m, err := a.Model(reqCtx, id)
		if err == nil {
			alone[id], err = greedy(reqCtx, m, prompts[id], n)
		}
		endRequest()
		if err != nil {
			t.Fatal(err)
		}
		if err := a.UnloadModel(ctx, id); err != nil { // waits for the request's hold to end
			t.Fatal(err)
		}
	}
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(ids))
	for round := range 2 {
		for _, id := range ids {
			wg.Go(func() {
				m, err := a.Model(reqCtx, id)
				if err != nil {
					errs <- err
					return
				}
				got, err := greedy(reqCtx, m, prompts[id], n)
				if err == nil && !slices.Equal(got, alone[id]) {
					err = fmt.Errorf("%s round %d: interleaved %v, alone %v", id, round, got, alone[id])
				}
				if err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := loaded(a); !slices.Equal(got, sorted(ids...)) {
		t.Errorf("loaded %v, want both", got)
	}
}

func TestPoolUnloadWaitsForARunningRequest(t *testing.T) {
	a, ids := poolApp(t, 1, func(*store.Settings) {})
	ctx := context.Background()
	reqCtx, endRequest := context.WithCancel(ctx)
	defer endRequest()
	m, err := a.Model(reqCtx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	unloaded := make(chan error, 1)
	go func() { unloaded <- a.UnloadModel(ctx, ids[0]) }()
	waitFor(t, 5*time.Second, "the unload did not take the model out of the pool", func() bool { return len(loaded(a)) == 0 })
	// The request that resolved the model before the unload still runs.
	got, err := greedy(reqCtx, m, []int32{1}, 40)
	if err != nil || len(got) != 40 {
		t.Fatalf("request during the unload: %d tokens, %v", len(got), err)
	}
	select {
	case err := <-unloaded:
		t.Fatalf("unload returned (%v) while a request held the model", err)
	default:
	}
	endRequest()
	if err := <-unloaded; err != nil {
		t.Fatal(err)
	}
	// At worst a stale model answers ErrClosed, never a crash.
	if _, err := greedy(ctx, m, []int32{1}, 2); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("generate on the unloaded model: %v", err)
	}
	if err := a.UnloadModel(ctx, ids[0]); !errors.Is(err, api.ErrModelNotFound) {
		t.Errorf("unload of a model not loaded: %v", err)
	}
}

// pool drives the pool's routes through their documented answers on a
// stories260k copy added to the library. Without the MLX runtime a load is
// 503 and the loaded states cannot be reached.
func (c *docCheck) pool() {
	id := testmodel.StoriesChat(c.t, c.t.TempDir(), "stories-pool")
	c.app.addRunFolder(id)
	body := `{"model":"` + id + `"}`
	huge := `{"model":"` + strings.Repeat("a", api.DefaultMaxBodyBytes) + `"}`
	if c.app.engineError() != nil {
		c.run([]step{{"POST /api/pool/load", "", body, 503}})
		return
	}
	c.run([]step{
		{"GET /api/pool", "", "", 200},
		{"POST /api/pool/load", "", body, 200},
		{"POST /api/pool/load", "", `{"model":"nobody/nothing"}`, 404},
		{"POST /api/pool/load", "", `{}`, 400},
		{"POST /api/pool/load", "", huge, 413},
		{"POST /api/pool/pin", "", body, 200},
		{"POST /api/pool/pin", "", `{"model":"nobody/nothing"}`, 404},
		{"POST /api/pool/pin", "", `{"model":1}`, 400},
		{"POST /api/pool/pin", "", huge, 413},
		{"GET /api/pool", "", "", 200},
		{"POST /api/pool/unpin", "", body, 200},
		{"POST /api/pool/unpin", "", `not json`, 400},
		{"POST /api/pool/unpin", "", huge, 413},
		{"POST /api/pool/unload", "", body, 200},
		{"POST /api/pool/unload", "", body, 404},
		{"POST /api/pool/unload", "", `{"model":""}`, 400},
		{"POST /api/pool/unload", "", huge, 413},
		{"PUT /api/settings", "", `{"memory":{"limit_bytes":1000}}`, 200},
		{"POST /api/pool/load", "", body, 409},
		{"PUT /api/settings", "", `{"memory":{"limit_bytes":0}}`, 200},
	})
}
