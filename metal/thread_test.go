package metal

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestMLXErrorBecomesGoError(t *testing.T) {
	requireMLX(t)
	var sticky error
	err := Do(context.Background(), func() error {
		c := Matmul(Zeros([]int{2, 3}, Float32), Zeros([]int{4, 5}, Float32))
		if c.Valid() {
			t.Error("matmul of (2,3) by (4,5) gave a valid array")
		}
		if d := Add(c, Ones([]int{2, 5}, Float32)); d.Valid() {
			t.Error("op on an invalid array gave a valid array")
		}
		sticky = Err()
		return nil
	})
	if !errors.Is(err, ErrMLX) {
		t.Fatalf("Do = %v, want an ErrMLX", err)
	}
	if sticky != err {
		t.Errorf("Err() inside Do = %v, Do returned %v", sticky, err)
	}
	// MLX's own text names the op and both shapes.
	for _, s := range []string{"matmul", "(2,3)", "(4,5)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks MLX's %q", err, s)
		}
	}
	do(t, func() error {
		got := floats(t, Matmul(Ones([]int{2, 3}, Float32), Ones([]int{3, 1}, Float32)))
		assertClose(t, "matmul after error", got, []float64{3, 3}, 0)
		return nil
	})
}

func TestDoReturnsFnErrorFirst(t *testing.T) {
	requireMLX(t)
	mine := errors.New("mine")
	err := Do(context.Background(), func() error {
		Reshape(Zeros([]int{4}, Float32), 3)
		return mine
	})
	if err != mine {
		t.Fatalf("Do = %v, want fn's own error", err)
	}
}

func TestDoConcurrent(t *testing.T) {
	requireMLX(t)
	var wg sync.WaitGroup
	errs := make(chan error, 256)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 16 {
				n := 10 + g*16 + i
				var got float64
				err := Do(context.Background(), func() error {
					var err error
					got, err = Sum(Arange(0, float64(n), 1, Float32), nil, false).Item()
					return err
				})
				if want := float64(n * (n - 1) / 2); err != nil || got != want {
					errs <- fmt.Errorf("sum(arange(%d)) = %v, %v; want %v", n, got, err, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestScopesFreeUnkeptArrays(t *testing.T) {
	requireMLX(t)
	var kept *Array
	do(t, func() error {
		var inner, nested *Array
		Scope(func() {
			inner = Ones([]int{8}, Float32)
			kept = Ones([]int{8}, Float32).Keep()
		})
		if inner.Valid() || !kept.Valid() {
			t.Errorf("after Scope: unkept valid=%v, kept valid=%v", inner.Valid(), kept.Valid())
		}
		// A nested Do runs inline with its own scope (no deadlock).
		if err := Do(context.Background(), func() error { nested = Zeros([]int{2}, Float32); return nil }); err != nil {
			t.Errorf("nested Do: %v", err)
		}
		if nested.Valid() {
			t.Error("array of a nested Do outlived it")
		}
		return nil
	})
	err := Do(context.Background(), func() error {
		assertClose(t, "kept", floats(t, kept), []float64{1, 1, 1, 1, 1, 1, 1, 1}, 0)
		kept.Free()
		kept.Free() // idempotent
		if Add(kept, kept).Valid() {
			t.Error("op on a freed array gave a valid array")
		}
		return nil
	})
	if !errors.Is(err, ErrFreed) {
		t.Fatalf("Do after use of a freed array = %v, want ErrFreed", err)
	}
}

func TestReplaceKeepsNewAndFreesOld(t *testing.T) {
	do(t, func() error {
		var old, next *Array
		Scope(func() {
			old = Ones([]int{4}, Float32).Keep()
			if Replace(old, old) != old || !old.Valid() {
				t.Error("Replace of an array by itself freed it")
			}
			next = Replace(old, AddScalar(old, 1))
		})
		if old.Valid() || !next.Valid() {
			t.Errorf("after Replace and its scope: old valid=%v, new valid=%v", old.Valid(), next.Valid())
		}
		assertClose(t, "new", floats(t, next), []float64{2, 2, 2, 2}, 0)
		next.Free()
		return nil
	})
}

func TestNilArrayIsAnErrorNotAPanic(t *testing.T) {
	requireMLX(t)
	err := Do(context.Background(), func() error {
		var a *Array
		if a.Dim(0) != 0 || a.Shape() != nil || a.Dtype() != -1 {
			t.Error("a nil array described itself")
		}
		return nil
	})
	if !errors.Is(err, ErrNilArray) {
		t.Fatalf("Do after describing a nil array = %v, want ErrNilArray", err)
	}
}

func TestDoCanceledWhileThreadBusy(t *testing.T) {
	requireMLX(t)
	started, release := make(chan struct{}), make(chan struct{})
	go Do(context.Background(), func() error { close(started); <-release; return nil }) //nolint:errcheck
	<-started
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	if err := Do(ctx, func() error { ran = true; return nil }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Do with canceled ctx while MLX is busy = %v (ran %v), want context.Canceled", err, ran)
	}
}

func TestGoexitInDoKeepsMLXWorking(t *testing.T) {
	requireMLX(t)
	err := Do(context.Background(), func() error { runtime.Goexit(); return nil })
	if !errors.Is(err, errGoexit) {
		t.Fatalf("Do(Goexit) = %v, want errGoexit", err)
	}
	do(t, func() error {
		v, err := Sum(Arange(0, 5, 1, Int32), nil, false).Item()
		if err == nil && v != 10 {
			t.Errorf("sum after Goexit = %v, want 10", v)
		}
		return err
	})
}
