package safe

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

//go:noinline
func panicHere() { panic("boom") }

func TestCallTurnsPanicIntoErrorWithStack(t *testing.T) {
	err := Call("work", func() error { panicHere(); return nil })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" || !strings.Contains(err.Error(), "work: internal error: boom") {
		t.Fatalf("Call = %v", err)
	}
	if !strings.Contains(string(pe.Stack), "panicHere") {
		t.Errorf("stack lacks the panicking function:\n%s", pe.Stack)
	}
	want := errors.New("plain")
	if err := Call("work", func() error { return want }); err != want {
		t.Errorf("Call without panic = %v", err)
	}
}

type stacked struct{}

func (stacked) PanicStack() []byte { return []byte("original-stack-frames") }

func TestPanickedKeepsOriginalStack(t *testing.T) {
	e := Panicked("x", stacked{})
	if !strings.HasPrefix(string(e.Stack), "original-stack-frames\nre-raised at:\n") {
		t.Errorf("stack %q does not start with the original", e.Stack)
	}
}

func TestGoRecovers(t *testing.T) {
	var wg sync.WaitGroup
	wg.Add(1)
	Go("background", func() { defer wg.Done(); panicHere() })
	wg.Wait() // the process is still here
}

func TestPointFiresOnceWhenArmed(t *testing.T) {
	Point("p") // not armed: nothing
	Arm("p", "armed")
	if err := Call("p", func() error { Point("p"); return nil }); err == nil || !strings.Contains(err.Error(), "armed") {
		t.Fatalf("armed point: %v", err)
	}
	if err := Call("p", func() error { Point("p"); return nil }); err != nil {
		t.Fatalf("point fired twice: %v", err)
	}
	Arm("q", 1)
	Disarm("q")
	if armed.Load() != 0 {
		t.Errorf("armed count %d after disarm", armed.Load())
	}
}
