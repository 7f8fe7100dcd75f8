package generate

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// rss reads the process's resident set size (Linux).
func rss(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	fields := strings.Fields(string(b))
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// settled clears the prefix cache, MLX's buffer cache, the C heap's free
// pages and Go's heap, and returns MLX active memory and RSS.
func settled(t *testing.T, s *Scheduler) (int64, int64) {
	if s != nil {
		if err := s.ClearPrefixCache(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var active int64
	mlxtest.Do(t, func() error {
		metal.Synchronize()
		metal.ClearCache()
		active = metal.ActiveMemory()
		metal.ReleaseHeap()
		return nil
	})
	runtime.GC()
	debug.FreeOSMemory()
	return active, rss(t)
}

// 500 mixed requests — batched, cancelled, prefix-cache hits and misses,
// sampled and greedy — leave MLX active memory and RSS within 5% of where
// they started once the caches are cleared.
func TestMemoryStaysFlat(t *testing.T) {
	f := loadFixture(t, "llama")
	s := newTestScheduler(t, f, SchedulerOptions{MaxSequences: 8, PrefixCacheBytes: 32 << 20})
	cases := batchCases(f, 40, true)
	run := func(n int) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 12)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c := cases[i%len(cases)]
				req := Request{Prompt: c.prompt, MaxTokens: c.max, Logprobs: i%5 == 0, TopLogprobs: i % 3}
				if i%4 == 1 {
					seed := uint64(i)
					req.Sampling = Sampling{Temperature: 0.7, Seed: &seed, FrequencyPenalty: 0.2}
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if i%7 == 3 {
					go func() { time.Sleep(time.Duration(i%5) * time.Millisecond); cancel() }()
				}
				if _, err := s.Generate(ctx, req, nil); err != nil && ctx.Err() == nil {
					t.Errorf("request %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
	}
	// Warm up: MLX's and Go's pools reach their working sizes. (Without
	// metal.ReleaseHeap glibc keeps ~6 MB of freed MLX buffers mapped over
	// the first ~700 requests, level after that.)
	run(40)
	active0, rss0 := settled(t, s)
	run(500)
	st := s.Stats()
	if st.Prefix.Hits == 0 || st.Prefix.Misses == 0 {
		t.Errorf("want both prefix-cache hits and misses: %+v", st.Prefix)
	}
	active1, rss1 := settled(t, s)
	t.Logf("MLX active %d -> %d bytes, RSS %.1f -> %.1f MB; %d requests, mean batch %.1f",
		active0, active1, float64(rss0)/1e6, float64(rss1)/1e6, st.Requests, float64(st.BatchedRows)/float64(st.DecodeSteps))
	if active1 > active0+active0/20 {
		t.Errorf("MLX active memory grew from %d to %d bytes", active0, active1)
	}
	if rss1 > rss0+rss0/20 {
		t.Errorf("RSS grew from %d to %d bytes", rss0, rss1)
	}
}
