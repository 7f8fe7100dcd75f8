package metal

import (
	"errors"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ErrMLX matches (errors.Is) every exception MLX raised.
var ErrMLX = errors.New("mlx error")

// Errors for misuse detected on the Go side; they become the sticky error.
var (
	ErrNilArray     = errors.New("metal: nil array argument")
	ErrFreed        = errors.New("metal: use of a freed array")
	ErrInvalidArray = errors.New("metal: use of an invalid array (an earlier op failed)")
	ErrShape        = errors.New("metal: data length does not match shape")
)

// Error is an exception MLX raised, with the shim function that raised it.
type Error struct {
	// Op is the shim call, e.g. "binary".
	Op string
	// Msg is MLX's message.
	Msg string
}

// Error returns "mlx <op>: <MLX's message>".
func (e *Error) Error() string { return "mlx " + e.Op + ": " + e.Msg }

// Is makes errors.Is(err, ErrMLX) true.
func (e *Error) Is(target error) bool { return target == ErrMLX }

// outSlots receive the handles a shim call returns. Only the MLX thread
// uses them, so no per-call allocation is needed.
var outSlots [3]uintptr

func outp() uintptr { return uintptr(unsafe.Pointer(&outSlots[0])) }

// callArgs carries a shim call's arguments: purego.SyscallN keeps the slice
// it is given, so a fresh variadic slice per call would be a heap allocation
// per op. Only the MLX thread uses it.
var callArgs [15]uintptr // purego's maximum on every platform we build for

// call invokes the shim function fn on the MLX thread and returns its C int
// status (see status).
func call(fn uintptr, args ...uintptr) uintptr {
	if len(args) > len(callArgs) {
		panic("metal: too many shim call arguments")
	}
	n := copy(callArgs[:], args)
	r, _, _ := purego.SyscallN(fn, callArgs[:n]...)
	return r
}

// status reads a C int return value (the upper half of the register is
// undefined).
func status(r uintptr) bool { return int32(r) == 0 }

// lastError wraps the shim's last-error text for op.
func lastError(op string) error {
	r, _, _ := purego.SyscallN(fnLastError)
	return &Error{Op: op, Msg: goString(r)}
}

// check turns a shim status into the sticky error; it reports success.
func check(op string, r uintptr) bool {
	if status(r) {
		return true
	}
	fail(lastError(op))
	return false
}

// ret wraps the handle in outSlots[0], or an invalid array after a failure.
func ret(op string, r uintptr) *Array {
	if !check(op, r) {
		return &Array{}
	}
	return track(outSlots[0])
}

// usable reports whether all arrays can be passed to MLX, setting the
// sticky error when one cannot. It panics outside Do.
func usable(arrs ...*Array) bool {
	mustInDo()
	for _, a := range arrs {
		if !usable1(a) {
			return false
		}
	}
	return true
}

func usable1(a *Array) bool {
	switch {
	case a == nil:
		fail(ErrNilArray)
	case a.h != 0:
		return true
	case a.freed:
		fail(ErrFreed)
	default:
		fail(ErrInvalidArray)
	}
	return false
}

// optional returns the handle of an optional argument (0 for nil) and
// whether it is usable.
func optional(a *Array) (uintptr, bool) {
	if a == nil {
		return 0, true
	}
	return a.h, usable1(a)
}

// handles lists the handles of arrs (nil when any is unusable).
func handles(arrs []*Array) []uintptr {
	hs := make([]uintptr, len(arrs))
	for i, a := range arrs {
		if !usable1(a) {
			return nil
		}
		hs[i] = a.h
	}
	return hs
}

// ints32 converts Go ints (shapes, axes) to the shim's int32 lists.
func ints32(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

func b2u(b bool) uintptr {
	if b {
		return 1
	}
	return 0
}

// goString copies a NUL-terminated C string.
func goString(p uintptr) string {
	if p == 0 {
		return ""
	}
	// Reinterpret rather than convert: p is C memory, not a Go pointer.
	c := *(*unsafe.Pointer)(unsafe.Pointer(&p))
	var n int
	for *(*byte)(unsafe.Add(c, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(c), n))
}

// cString returns a NUL-terminated copy of s.
func cString(s string) []byte { return append([]byte(s), 0) }
