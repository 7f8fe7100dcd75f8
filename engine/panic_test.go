package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/safe"
)

// TestOutputPanicFailsOnlyThatRequest injects a panic where a generated token
// is detokenized and parsed (the request's own goroutine, outside the MLX
// thread): the request ends with the panic as its error instead of taking
// the process down, the sequence stops, and the next request gives the
// reference text.
func TestOutputPanicFailsOnlyThatRequest(t *testing.T) {
	m, ref := loadStories(t)
	ctx := context.Background()
	safe.Arm("engine.output", "injected panic in the output")
	defer safe.Disarm("engine.output")
	s, err := m.Complete(ctx, CompletionRequest{Text: ref.prompt, AddSpecial: true, Params: Params{MaxTokens: 64}})
	if err != nil {
		t.Fatal(err)
	}
	r := Collect(s)
	var pe *safe.PanicError
	if !errors.As(r.Err, &pe) || !strings.Contains(r.Err.Error(), "injected panic in the output") {
		t.Fatalf("request with a panicking output: err %v, want the panic", r.Err)
	}
	if r.FinishReason != FinishError {
		t.Errorf("finish reason %q, want %q", r.FinishReason, FinishError)
	}
	s, err = m.Complete(ctx, CompletionRequest{Text: ref.prompt, AddSpecial: true, Params: Params{MaxTokens: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if r := Collect(s); r.Err != nil || r.Text != ref.promptGreedy {
		t.Fatalf("after the panic: %q, %v; want %q", r.Text, r.Err, ref.promptGreedy)
	}
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().Active != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := m.Stats(); st.Active != 0 {
		t.Errorf("%d sequences still active after both requests", st.Active)
	}
}
