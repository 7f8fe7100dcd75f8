package metal

import (
	"context"
	"strings"
	"testing"
)

//go:noinline
func panicDeepOnMLXThread() { panic("boom on the MLX thread") }

// TestDoPanicKeepsMLXThreadStack: a panic in fn reaches Do's caller as a
// *PanicError whose Stack is the MLX thread's, naming the function that
// panicked; MLX keeps working afterwards.
func TestDoPanicKeepsMLXThreadStack(t *testing.T) {
	requireMLX(t)
	func() {
		defer func() {
			v := recover()
			pe, ok := v.(*PanicError)
			if !ok {
				t.Fatalf("recovered %T %v, want *PanicError", v, v)
			}
			if pe.Value != "boom on the MLX thread" {
				t.Errorf("panic value %v", pe.Value)
			}
			stack := string(pe.PanicStack())
			for _, want := range []string{"panicDeepOnMLXThread", "metal.runTop", "metal.worker"} {
				if !strings.Contains(stack, want) {
					t.Errorf("MLX thread stack lacks %s:\n%s", want, stack)
				}
			}
		}()
		_ = Do(context.Background(), func() error { panicDeepOnMLXThread(); return nil })
		t.Fatal("Do returned after fn panicked")
	}()
	do(t, func() error {
		v, err := Sum(Arange(0, 5, 1, Int32), nil, false).Item()
		if err == nil && v != 10 {
			t.Errorf("sum after the panic = %v, want 10", v)
		}
		return err
	})
}
