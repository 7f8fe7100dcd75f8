package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// An agent loop's next turn: Qwen3's own chat template re-renders the
// previous answer without its <think> block, so the prompt leaves the cached
// conversation where the block was. The prefix cache reuses everything up to
// that token — no more, no less — and says where it diverged.
func TestPrefixCacheReusesUpToDroppedThinking(t *testing.T) {
	mlxtest.Require(t)
	dir := testmodel.Qwen3Tiny(t, t.TempDir(), "qwen3-think")
	ctx := context.Background()
	m, err := Load(ctx, dir, Options{Serving: generate.SchedulerOptions{PrefixCacheBytes: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(ctx) })
	user1 := chat.Message{Role: "user", Content: "Plan a three-day trip to Lisbon. " + strings.Repeat("Keep it cheap. ", 20)}
	answer := chat.Message{Role: "assistant", Content: "Day one: Alfama and the castle. Day two: Belém. Day three: Sintra.",
		ReasoningContent: "The user wants a cheap plan; trams and walking, free museums on Sundays."}
	// Turn 1 as it was generated: the answer with its reasoning, in the cache.
	first, err := m.RenderChat(ChatRequest{Messages: []chat.Message{user1, answer}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first.Text, "<think>") {
		t.Fatalf("the last answer should keep its thinking block:\n%s", first.Text)
	}
	s, err := m.Complete(ctx, CompletionRequest{IDs: first.IDs, Params: Params{MaxTokens: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if r := Collect(s); r.Err != nil {
		t.Fatal(r.Err)
	}
	// Turn 2: the template drops the earlier turn's thinking.
	turn2 := ChatRequest{Messages: []chat.Message{user1, answer, {Role: "user", Content: "And in winter?"}}, Params: Params{MaxTokens: 2}}
	second, err := m.RenderChat(turn2)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(second.Text, "cheap plan; trams") {
		t.Fatalf("the template kept the earlier thinking:\n%s", second.Text)
	}
	common := 0
	for common < min(len(first.IDs), len(second.IDs)) && first.IDs[common] == second.IDs[common] {
		common++
	}
	if common < 40 || common >= len(first.IDs) {
		t.Fatalf("the two renders share %d of %d tokens", common, len(first.IDs))
	}
	s, err = m.Chat(ctx, turn2)
	if err != nil {
		t.Fatal(err)
	}
	r := Collect(s)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Usage.CachedTokens != common {
		t.Errorf("cached tokens %d, want %d (the tokens before the dropped thinking block)", r.Usage.CachedTokens, common)
	}
	if want := fmt.Sprintf("diverged at token %d (prompt %d, cache %d)", common, second.IDs[common], first.IDs[common]); !strings.Contains(r.Usage.CacheExplain, want) {
		t.Errorf("explain %q, want it to say %q", r.Usage.CacheExplain, want)
	}
}
