package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// The demo model (SmolLM2-135M-Instruct from its GGUF) under the scheduler:
// 16 chat requests of different lengths, submitted at staggered times, give
// exactly the tokens each gives alone; with the prefix cache on, the later
// turns of a conversation report the tokens they took from it.
func TestDemoModelBatchedMatchesAlone(t *testing.T) {
	dir := testmodel.Demo(t)
	ctx := context.Background()
	m, err := Load(ctx, dir, Options{Serving: generate.SchedulerOptions{MaxSequences: 16, PrefixCacheBytes: 256 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(ctx) })
	topics := []string{"the sea", "a red bicycle", "why the sky is blue", "bread", "a quiet library at night",
		"the number seven", "mountains", "a cat who learns to read", "winter", "trains"}
	var reqs []ChatRequest
	for i := range 16 {
		msgs := []chat.Message{{Role: "system", Content: "You are a helpful assistant. Answer in one short sentence."},
			{Role: "user", Content: fmt.Sprintf("Tell me about %s.%s", topics[i%len(topics)], strings.Repeat(" Please.", i%4))}}
		reqs = append(reqs, ChatRequest{Messages: msgs, Params: Params{MaxTokens: 6 + i%7}})
	}
	ids := func(r Result) []int32 {
		out := make([]int32, len(r.Logprobs))
		for i, lp := range r.Logprobs {
			out[i] = lp.ID
		}
		return out
	}
	run := func(r ChatRequest) Result {
		r.Logprobs = true // the token ids travel with the logprobs
		s, err := m.Chat(ctx, r)
		if err != nil {
			t.Error(err)
			return Result{}
		}
		return Collect(s)
	}
	alone := make([]Result, len(reqs))
	for i, r := range reqs {
		alone[i] = run(r)
	}
	got := make([]Result, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = run(r) }()
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	cached := 0
	for i := range reqs {
		if got[i].Err != nil || !slices.Equal(ids(got[i]), ids(alone[i])) || got[i].Text != alone[i].Text {
			t.Errorf("request %d: batched %q %v (%v), alone %q %v", i, got[i].Text, ids(got[i]), got[i].Err, alone[i].Text, ids(alone[i]))
		}
		cached += got[i].Usage.CachedTokens
	}
	st := m.Stats()
	if st.BatchedRows <= st.DecodeSteps {
		t.Errorf("no decode step carried more than one sequence: %+v", st)
	}
	if cached == 0 {
		t.Errorf("16 requests sharing a system prompt took no token from the prefix cache: %+v", st.Prefix)
	}
}
