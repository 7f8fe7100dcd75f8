package generate

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/metal"
)

// TestSchedulerStepPanicFailsOnlyThatStep injects a panic into a scheduling
// step on the MLX thread: the running request fails with the panic (whose
// MLX-thread stack is kept), and the scheduler's loop serves the next
// request with the right tokens.
func TestSchedulerStepPanicFailsOnlyThatStep(t *testing.T) {
	f := loadFixture(t, "qwen3")
	s := newTestScheduler(t, f, SchedulerOptions{})
	prompt, want := f.ints["greedy_prompt"], f.ints["greedy_tokens"]

	// Armed at the first token, so a later step panics with the request running.
	armed := false
	defer safe.Disarm("scheduler.step")
	_, err := s.Generate(context.Background(), Request{Prompt: prompt, MaxTokens: len(want)}, func(Token) bool {
		if !armed {
			armed = true
			safe.Arm("scheduler.step", "injected panic in a step")
		}
		return false
	})
	if err == nil || !strings.Contains(err.Error(), "injected panic in a step") {
		t.Fatalf("request during the panicking step: %v, want the panic as its error", err)
	}
	var pe *safe.PanicError
	if !errors.As(err, &pe) || !strings.Contains(string(pe.Stack), "scheduler.go") {
		t.Errorf("error %v does not carry the MLX thread's stack", err)
	}
	if _, ok := pe.Value.(*metal.PanicError); !ok {
		t.Errorf("panic value %T, want *metal.PanicError", pe.Value)
	}
	res, err := s.Generate(context.Background(), Request{Prompt: prompt, MaxTokens: len(want)}, nil)
	if err != nil || !slices.Equal(res.Tokens, want) {
		t.Fatalf("after the panic: %v, %v; want %v", tokensOf(res), err, want)
	}
}
