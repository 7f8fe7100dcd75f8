// Package safe keeps one goroutine's panic from ending the process: Recover
// at the top of a background goroutine, Call around work whose panic should
// become an error. Both log the panic with the stack where it happened.
//
// Point lets a test make a named place panic, so that the test exercises the
// production path (the real goroutine and its recovery) rather than a copy.
package safe

import (
	"fmt"
	"log"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// PanicError is a recovered panic: its value and the stack of the goroutine
// that panicked, taken where it panicked.
type PanicError struct {
	What  string // what was running (e.g. "download org/model")
	Value any
	Stack []byte
}

// Error says what panicked with what value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("%s: internal error: %v", e.What, e.Value)
}

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Panicked logs the recovered value v of what with the current stack (call
// it from the deferred function that recovered, where the stack still shows
// the panic) and returns it as a *PanicError.
//
// A value with a PanicStack method (metal.PanicError: a panic re-raised from
// the MLX thread) keeps the stack where it first happened, then this one.
func Panicked(what string, v any) *PanicError {
	stack := debug.Stack()
	if ps, ok := v.(interface{ PanicStack() []byte }); ok {
		stack = append(append(append([]byte(nil), ps.PanicStack()...), "\nre-raised at:\n"...), stack...)
	}
	e := &PanicError{What: what, Value: v, Stack: stack}
	log.Printf("panic in %s: %v\n%s", what, v, e.Stack)
	return e
}

// Recover, deferred directly at the top of a goroutine, logs a panic of
// what with its stack and lets the goroutine end normally.
func Recover(what string) {
	if v := recover(); v != nil {
		Panicked(what, v)
	}
}

// Call runs fn and returns its error, or its panic as a *PanicError (logged
// with the stack).
func Call(what string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = Panicked(what, v)
		}
	}()
	return fn()
}

// Go runs fn in a new goroutine that recovers (and logs) a panic.
func Go(what string, fn func()) {
	go func() {
		defer Recover(what)
		fn()
	}()
}

var (
	armed  atomic.Int32
	points sync.Map // name → value to panic with
)

// Point panics with the value a test armed for name (see Arm); it costs one
// atomic load when nothing is armed.
func Point(name string) {
	if armed.Load() == 0 {
		return
	}
	if v, ok := points.LoadAndDelete(name); ok {
		armed.Add(-1)
		panic(v)
	}
}

// Arm makes the next Point(name) panic with v (once). For tests.
func Arm(name string, v any) {
	if _, loaded := points.Swap(name, v); !loaded {
		armed.Add(1)
	}
}

// Disarm removes a Point that did not fire. For tests.
func Disarm(name string) {
	if _, ok := points.LoadAndDelete(name); ok {
		armed.Add(-1)
	}
}
