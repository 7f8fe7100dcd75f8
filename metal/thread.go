package metal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
)

// ErrNotLoaded is returned by Do before a successful Load.
var ErrNotLoaded = errors.New("metal: mlx runtime not loaded")

// job is one Do call handed to the MLX thread.
type job struct {
	fn   func() error
	done chan result
}

type result struct {
	err   error
	panic any
}

// doState is the state of the Do call running on the MLX thread: its sticky
// error and its stack of array scopes. Only the MLX thread touches it.
type doState struct {
	err    error
	scopes [][]*Array
}

var (
	jobs        = make(chan job)
	startWorker sync.Once
	workerGID   atomic.Uint64
	st          *doState
)

// Do runs fn on the single locked OS thread that makes every MLX call (MLX
// streams are thread-local) and waits for it. Arrays fn creates and does not
// Keep are freed, in one shim call, when fn returns. Do returns fn's error,
// else the first MLX error raised during fn. ctx only bounds the wait for the
// thread: once fn starts it runs to completion (fn checks ctx itself).
// A Do from inside fn runs inline with its own scope. A panic in fn is
// re-raised in the caller's goroutine as a *PanicError that carries the MLX
// thread's stack.
func Do(ctx context.Context, fn func() error) error {
	if !Loaded() {
		return ErrNotLoaded
	}
	startWorker.Do(func() {
		started := make(chan struct{})
		go worker(started)
		<-started
	})
	if goid() == workerGID.Load() {
		return runNested(fn)
	}
	j := job{fn: fn, done: make(chan result, 1)}
	select {
	case jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	r := <-j.done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

// PanicError is a panic raised by fn on the MLX thread, re-raised by Do in
// the caller's goroutine: Value is what fn panicked with and Stack the MLX
// thread's stack where it panicked (the caller's own stack, where Do
// re-panics, no longer shows it).
type PanicError struct {
	Value any
	Stack []byte
}

// Error names the panic value; the stack is in Stack (see PanicStack).
func (e *PanicError) Error() string { return fmt.Sprintf("panic on the MLX thread: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// PanicStack returns the stack where the panic happened, so that whoever
// recovers it logs that stack rather than its own.
func (e *PanicError) PanicStack() []byte { return e.Stack }

// errGoexit reports a fn that ended its goroutine (runtime.Goexit, e.g.
// t.FailNow in a test).
var errGoexit = errors.New("metal: fn called runtime.Goexit on the MLX thread")

func worker(started chan<- struct{}) {
	runtime.LockOSThread()
	workerGID.Store(goid())
	if started != nil {
		compileFromEnv()
		close(started)
	}
	for j := range jobs {
		runJob(j)
	}
}

// runJob runs one job. If fn calls runtime.Goexit the worker goroutine (and
// its locked thread) ends; the caller gets errGoexit and a new worker takes
// over so later Do calls still run.
func runJob(j job) {
	finished := false
	defer func() {
		if !finished {
			go worker(nil)
			j.done <- result{err: errGoexit}
		}
	}()
	r := runTop(j.fn)
	finished = true
	j.done <- r
}

// runTop runs one Do call: fresh state, one root scope freed at the end.
func runTop(fn func() error) (r result) {
	st = &doState{scopes: scopeStore[:0]}
	pushScope()
	defer func() {
		if v := recover(); v != nil {
			// The stack is taken here, while it still shows fn's frames.
			r.panic = &PanicError{Value: v, Stack: debug.Stack()}
		}
		for len(st.scopes) > 0 { // all of them, in case fn panicked in a Scope
			popScope()
		}
		scopeStore, st = st.scopes, nil
	}()
	r.err = fn()
	if r.err == nil {
		r.err = st.err
	}
	return r
}

func runNested(fn func() error) error {
	pushScope()
	defer popScope()
	if err := fn(); err != nil {
		return err
	}
	return st.err
}

// Scope runs fn with a nested scope: arrays fn creates and does not Keep are
// freed when it returns (e.g. once per decode step). Must run inside Do.
func Scope(fn func()) {
	mustInDo()
	pushScope()
	defer popScope()
	fn()
}

// Err returns the sticky error of the current Do call (nil when none), so fn
// can stop early. Must run inside Do.
func Err() error {
	mustInDo()
	return st.err
}

// scopeStore keeps the scope stack's storage, each level's list included,
// from one Do call to the next, so that opening a scope and tracking arrays
// in it allocate nothing once warm (MLX thread only).
var scopeStore [][]*Array

func pushScope() {
	n := len(st.scopes)
	if n == cap(st.scopes) {
		st.scopes = append(st.scopes, nil)
		return
	}
	st.scopes = st.scopes[:n+1]
}

// popScope frees the innermost scope's arrays and keeps its emptied list
// for the next scope at that depth.
func popScope() {
	n := len(st.scopes) - 1
	list := st.scopes[n]
	freeArrays(list)
	clear(list)
	st.scopes[n] = list[:0]
	st.scopes = st.scopes[:n]
}

// fail records err as the sticky error unless one is already set.
func fail(err error) {
	if st.err == nil {
		st.err = err
	}
}

// mustInDo panics when no Do call is running: MLX calls from another thread
// would fail or corrupt state, which is a bug at the call site. (It checks
// only that a Do runs, not that the caller is that Do's goroutine.)
func mustInDo() {
	if st == nil {
		panic("metal: MLX call outside metal.Do")
	}
}

// goid returns the current goroutine's id, parsed from its stack header
// ("goroutine 18 [running]:"); used only once per Do.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("metal: cannot parse goroutine id: %v", err))
	}
	return id
}
