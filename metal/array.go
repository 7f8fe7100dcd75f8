package metal

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Array is a handle to an MLX array (a node of MLX's lazy graph). The zero
// Array is invalid: ops return one after a failure, and ops given one return
// one without calling MLX. All methods must run inside Do.
type Array struct {
	h     uintptr
	kept  bool
	freed bool
	desc  *arrayDesc // dtype and shape, read once
}

type arrayDesc struct {
	dtype Dtype
	shape []int
}

// Shim functions of array.cpp.
var (
	// const char* lmx_last_error(void);
	fnLastError uintptr
	// const char* lmx_version(void);
	fnVersion uintptr
	// int lmx_free_arrays(const lmx_array* arrs, int64_t n);
	fnFreeArrays uintptr
	// int lmx_from_data(lmx_array* out, const void* data, const int32_t* shape, int64_t ndim, int32_t dtype);
	fnFromData uintptr
	// int lmx_full(lmx_array* out, const int32_t* shape, int64_t ndim, uint64_t value, int32_t dtype);
	fnFull uintptr
	// int lmx_arange(lmx_array* out, uint64_t start, uint64_t stop, uint64_t step, int32_t dtype);
	fnArange uintptr
	// int lmx_describe(lmx_array a, int32_t* desc, int64_t cap);
	fnDescribe uintptr
	// int lmx_copy_out(lmx_array a, void* dst, int64_t nbytes);
	fnCopyOut uintptr
	// int lmx_eval(const lmx_array* arrs, int64_t n, int32_t async);
	fnEval uintptr
)

var arraySyms = []sym{
	{"lmx_last_error", &fnLastError}, {"lmx_version", &fnVersion},
	{"lmx_free_arrays", &fnFreeArrays}, {"lmx_from_data", &fnFromData},
	{"lmx_full", &fnFull}, {"lmx_arange", &fnArange},
	{"lmx_describe", &fnDescribe}, {"lmx_copy_out", &fnCopyOut}, {"lmx_eval", &fnEval},
}

func loadArray(lib uintptr) error { return bindSyms(lib, arraySyms) }

// Version returns MLX's version string, e.g. "0.32.4" ("" before Load).
func Version() string {
	if !Loaded() {
		return ""
	}
	r, _, _ := purego.SyscallN(fnVersion)
	return goString(r)
}

// slabSize is how many Arrays one allocation provides: a decode step
// creates thousands, and one allocation per slab instead of per array
// keeps the garbage collector out of the per-op cost. A live Array keeps
// its slab (slabSize × 32 bytes) reachable.
const slabSize = 64

// slab holds the Arrays not handed out yet (MLX thread only).
var slab []Array

// track registers a new handle with the innermost scope.
func track(h uintptr) *Array {
	if len(slab) == 0 {
		slab = make([]Array, slabSize)
	}
	a := &slab[0]
	slab = slab[1:]
	a.h = h
	n := len(st.scopes) - 1
	st.scopes[n] = append(st.scopes[n], a)
	return a
}

// freeBuf is freeArrays' reusable list of handles (MLX thread only).
var freeBuf []uintptr

// freeArrays frees, in one shim call, every array of list not kept or
// already freed.
func freeArrays(list []*Array) {
	hs := freeBuf[:0]
	for _, a := range list {
		if a.h != 0 && !a.kept {
			hs = append(hs, a.h)
			a.h, a.freed = 0, true
		}
	}
	if len(hs) > 0 {
		call(fnFreeArrays, uintptr(unsafe.Pointer(unsafe.SliceData(hs))), uintptr(len(hs)))
	}
	freeBuf = hs[:0]
}

// FromFloat32 copies data into a new float32 array of the given shape.
func FromFloat32(data []float32, shape ...int) *Array {
	return fromData(unsafe.Pointer(unsafe.SliceData(data)), len(data), Float32, shape)
}

// FromInt32 copies data into a new int32 array of the given shape.
func FromInt32(data []int32, shape ...int) *Array {
	return fromData(unsafe.Pointer(unsafe.SliceData(data)), len(data), Int32, shape)
}

// FromUint32 copies data into a new uint32 array of the given shape.
func FromUint32(data []uint32, shape ...int) *Array {
	return fromData(unsafe.Pointer(unsafe.SliceData(data)), len(data), Uint32, shape)
}

// FromBytes copies a raw little-endian buffer (e.g. float16 or bfloat16
// bits) into a new array of type dt.
func FromBytes(data []byte, dt Dtype, shape ...int) *Array {
	mustInDo()
	if dt.Size() == 0 || len(data)%dt.Size() != 0 {
		fail(fmt.Errorf("%w: %d bytes of %v", ErrShape, len(data), dt))
		return &Array{}
	}
	return fromData(unsafe.Pointer(unsafe.SliceData(data)), len(data)/dt.Size(), dt, shape)
}

func fromData(data unsafe.Pointer, n int, dt Dtype, shape []int) *Array {
	mustInDo()
	if numel(shape) != n {
		fail(fmt.Errorf("%w: %d elements for shape %v", ErrShape, n, shape))
		return &Array{}
	}
	s := ints32(shape)
	r := call(fnFromData, outp(), uintptr(data),
		uintptr(unsafe.Pointer(unsafe.SliceData(s))), uintptr(len(s)), uintptr(dt))
	return ret("from_data", r)
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Scalar returns a 0-d array holding v converted to dt.
func Scalar(v float64, dt Dtype) *Array { return Full(nil, v, dt) }

// Zeros returns an array of zeros.
func Zeros(shape []int, dt Dtype) *Array { return Full(shape, 0, dt) }

// Ones returns an array of ones.
func Ones(shape []int, dt Dtype) *Array { return Full(shape, 1, dt) }

// Full returns an array of the given shape filled with v converted to dt.
func Full(shape []int, v float64, dt Dtype) *Array {
	mustInDo()
	s := ints32(shape)
	r := call(fnFull, outp(), uintptr(unsafe.Pointer(unsafe.SliceData(s))),
		uintptr(len(s)), uintptr(math.Float64bits(v)), uintptr(dt))
	return ret("full", r)
}

// Arange returns the values start, start+step, ... below stop.
func Arange(start, stop, step float64, dt Dtype) *Array {
	mustInDo()
	r := call(fnArange, outp(), uintptr(math.Float64bits(start)),
		uintptr(math.Float64bits(stop)), uintptr(math.Float64bits(step)), uintptr(dt))
	return ret("arange", r)
}

// Valid reports whether a holds an MLX array (false after a failed op or
// Free).
func (a *Array) Valid() bool { return a != nil && a.h != 0 }

// descBuf receives lmx_describe's dtype, ndim and up to 64 dims (MLX thread
// only).
var descBuf [66]int32

// describe reads and caches dtype and shape (nil for a nil or invalid
// array, which sets the sticky error).
func (a *Array) describe() *arrayDesc {
	if a != nil && a.desc != nil {
		return a.desc
	}
	if !usable(a) {
		return nil
	}
	buf := &descBuf
	r := call(fnDescribe, a.h, uintptr(unsafe.Pointer(buf)), uintptr(len(buf)))
	if !check("describe", r) {
		return nil
	}
	d := &arrayDesc{dtype: Dtype(buf[0]), shape: make([]int, buf[1])}
	for i := range d.shape {
		d.shape[i] = int(buf[2+i])
	}
	a.desc = d
	return d
}

// Shape returns a copy of the dimensions (nil for an invalid array).
func (a *Array) Shape() []int {
	if d := a.describe(); d != nil {
		return append([]int(nil), d.shape...)
	}
	return nil
}

// Dim returns dimension i; a negative i counts from the end.
func (a *Array) Dim(i int) int {
	d := a.describe()
	if d == nil {
		return 0
	}
	if i < 0 {
		i += len(d.shape)
	}
	if i < 0 || i >= len(d.shape) {
		fail(fmt.Errorf("metal: dim %d of a %d-d array", i, len(d.shape)))
		return 0
	}
	return d.shape[i]
}

// Ndim returns the number of dimensions.
func (a *Array) Ndim() int {
	if d := a.describe(); d != nil {
		return len(d.shape)
	}
	return 0
}

// Dtype returns the element type (-1 for an invalid array).
func (a *Array) Dtype() Dtype {
	if d := a.describe(); d != nil {
		return d.dtype
	}
	return -1
}

// Size returns the number of elements.
func (a *Array) Size() int {
	if d := a.describe(); d != nil {
		return numel(d.shape)
	}
	return 0
}

// Nbytes returns the size of the array's data in bytes.
func (a *Array) Nbytes() int { return a.Size() * a.Dtype().Size() }

// Bytes evaluates a and returns a copy of its data, row-major, raw.
func (a *Array) Bytes() ([]byte, error) {
	buf := make([]byte, a.Nbytes())
	return buf, a.copyOut(unsafe.Pointer(unsafe.SliceData(buf)), len(buf))
}

// Float32s evaluates a and returns its values as float32 (converting any
// numeric type).
func (a *Array) Float32s() ([]float32, error) {
	src := a
	if a.Dtype() != Float32 {
		src = Astype(a, Float32)
	}
	out := make([]float32, src.Size())
	return out, src.copyOut(unsafe.Pointer(unsafe.SliceData(out)), 4*len(out))
}

// Int32s evaluates a and returns its values as int32 (converting any
// numeric type).
func (a *Array) Int32s() ([]int32, error) {
	src := a
	if a.Dtype() != Int32 {
		src = Astype(a, Int32)
	}
	out := make([]int32, src.Size())
	return out, src.copyOut(unsafe.Pointer(unsafe.SliceData(out)), 4*len(out))
}

// Item evaluates a one-element array and returns its value.
func (a *Array) Item() (float64, error) {
	if n := a.Size(); n != 1 {
		if err := Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("metal: item of an array of %d elements", n)
	}
	b, err := a.Bytes()
	if err != nil {
		return 0, err
	}
	return a.Dtype().decode(b)
}

func (a *Array) copyOut(dst unsafe.Pointer, n int) error {
	if !usable(a) {
		return st.err
	}
	if n == 0 {
		return nil
	}
	r := call(fnCopyOut, a.h, uintptr(dst), uintptr(n))
	if !status(r) {
		err := lastError("copy_out")
		fail(err)
		return err
	}
	return nil
}

// Keep takes a out of its scope: it survives the Do call, and the caller
// frees it (Free or FreeAll, inside a later Do). Returns a.
func (a *Array) Keep() *Array {
	if a != nil {
		a.kept = true
	}
	return a
}

// Replace keeps a and frees old, the array a takes the place of (nil, or a
// itself, frees nothing): the update of a state held across scopes. Returns a.
func Replace(old, a *Array) *Array {
	a.Keep()
	if old != nil && old != a {
		old.Free()
	}
	return a
}

// Free releases the array now. Idempotent; nil-safe. Must run inside Do.
func (a *Array) Free() {
	if a == nil || a.h == 0 {
		return
	}
	mustInDo()
	a.kept = false
	one := [1]*Array{a}
	freeArrays(one[:])
}

// FreeAll releases arrays in one shim call. Must run inside Do.
func FreeAll(arrs ...*Array) {
	mustInDo()
	list := make([]*Array, 0, len(arrs))
	for _, a := range arrs {
		if a != nil {
			a.kept = false
			list = append(list, a)
		}
	}
	freeArrays(list)
}

// Eval computes arrs and waits for them.
func Eval(arrs ...*Array) error { return eval(arrs, false) }

// AsyncEval schedules arrs for computation and returns at once, so the host
// can build the next step's graph meanwhile.
func AsyncEval(arrs ...*Array) error { return eval(arrs, true) }

func eval(arrs []*Array, async bool) error {
	mustInDo()
	hs := handles(arrs)
	if hs == nil && len(arrs) > 0 {
		return st.err
	}
	r := call(fnEval, uintptr(unsafe.Pointer(unsafe.SliceData(hs))),
		uintptr(len(hs)), b2u(async))
	if !status(r) {
		err := lastError("eval")
		fail(err)
		return err
	}
	return nil
}
