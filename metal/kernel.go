package metal

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Shim functions of fast.cpp's custom kernels (bound through fastSyms: they
// are mlx::core::fast's too).
var (
	// int lmx_metal_kernel(lmx_kernel* out, const char* name, const char* const* input_names, int64_t n_in, const char* const* output_names, int64_t n_out, const char* source, const char* header, int32_t ensure_row_contiguous, int32_t atomic_outputs);
	fnMetalKernel uintptr
	// int lmx_cuda_kernel(lmx_kernel* out, const char* name, const char* const* input_names, int64_t n_in, const char* const* output_names, int64_t n_out, const char* source, const char* header, int32_t ensure_row_contiguous, int32_t shared_memory);
	fnCUDAKernel uintptr
	// int lmx_kernel_free(lmx_kernel k);
	fnKernelFree uintptr
	// int lmx_kernel_call(lmx_array* outs, lmx_kernel k, const lmx_array* inputs, int64_t n_in, const int32_t* out_shapes, const int32_t* out_ndims, const int32_t* out_dtypes, int64_t n_out, const int32_t* dims, const char* const* tmpl_names, const int32_t* tmpl_kinds, const int32_t* tmpl_values, int64_t n_tmpl, const float* init_value);
	fnKernelCall uintptr
)

// ErrKernelFreed is returned by calls of a Kernel after Free.
var ErrKernelFreed = errors.New("metal: use of a freed kernel")

// ErrNoKernel is returned when MLX reports success building a kernel but
// hands back none (metal_kernel on MLX's CUDA build, which has no Metal
// back-end).
var ErrNoKernel = errors.New("metal: MLX built no kernel (no back-end for it in this build)")

// KernelSpec describes a custom kernel (MLX's mx.fast.metal_kernel and
// mx.fast.cuda_kernel): Source is the body of a kernel whose parameters are
// the named inputs and outputs; where the source mentions <input>_shape,
// <input>_strides or <input>_ndim, MLX passes those too.
type KernelSpec struct {
	Name            string
	Inputs, Outputs []string
	Source          string
	// Header is code placed before the kernel (helpers, includes).
	Header string
	// Strided passes inputs as they are laid out; by default MLX copies
	// non-row-contiguous inputs first (ensure_row_contiguous).
	Strided bool
	// AtomicOutputs makes the outputs atomic (Metal only).
	AtomicOutputs bool
	// SharedMemory is the dynamic shared memory in bytes (CUDA only).
	SharedMemory int
}

// Kernel is a custom kernel built by NewMetalKernel or NewCUDAKernel. It
// belongs to the MLX thread; the caller frees it with Free.
type Kernel struct {
	h    uintptr
	name string
}

// NewMetalKernel builds a Metal kernel from spec. MLX only records the
// source here: on a build without the Metal backend, Call fails with MLX's
// error ("No Metal back-end"). Must run inside Do.
func NewMetalKernel(spec KernelSpec) (*Kernel, error) {
	return newKernel(fnMetalKernel, "metal_kernel", spec, b2u(spec.AtomicOutputs))
}

// NewCUDAKernel builds a CUDA kernel from spec. On a build without the CUDA
// backend it returns MLX's error ("No CUDA back-end"). Must run inside Do.
func NewCUDAKernel(spec KernelSpec) (*Kernel, error) {
	return newKernel(fnCUDAKernel, "cuda_kernel", spec, uintptr(spec.SharedMemory))
}

func newKernel(fn uintptr, op string, spec KernelSpec, last uintptr) (*Kernel, error) {
	mustInDo()
	name, source, header := cString(spec.Name), cString(spec.Source), cString(spec.Header)
	in, inBufs := cStrings(spec.Inputs)
	out, outBufs := cStrings(spec.Outputs)
	var h uintptr
	r := call(fn, uintptr(unsafe.Pointer(&h)), ptr(name), ptr(in), uintptr(len(in)), ptr(out), uintptr(len(out)),
		ptr(source), ptr(header), b2u(!spec.Strided), last)
	runtime.KeepAlive(inBufs) // the shim reads them all through uintptrs
	runtime.KeepAlive(outBufs)
	runtime.KeepAlive(in)
	runtime.KeepAlive(out)
	runtime.KeepAlive(name)
	runtime.KeepAlive(source)
	runtime.KeepAlive(header)
	if !status(r) {
		return nil, fmt.Errorf("kernel %s: %w", spec.Name, lastError(op))
	}
	if h == 0 {
		// Seen once from metal_kernel on MLX's CUDA build: success and no
		// kernel. Say so here rather than "use of a freed kernel" later.
		return nil, fmt.Errorf("kernel %s: %s: %w", spec.Name, op, ErrNoKernel)
	}
	return &Kernel{h: h, name: spec.Name}, nil
}

// Free releases the kernel; later calls fail with ErrKernelFreed. Must run
// inside Do.
func (k *Kernel) Free() {
	if k == nil || k.h == 0 {
		return
	}
	mustInDo()
	call(fnKernelFree, k.h) // cannot fail: it only deletes the function
	k.h = 0
}

// TemplateArg is a compile-time constant of a kernel call: Value is an int,
// a bool or a Dtype (a type alias in the kernel).
type TemplateArg struct {
	Name  string
	Value any
}

// KernelCall is one launch of a Kernel.
type KernelCall struct {
	Inputs []*Array
	// OutputShapes and OutputDtypes give each output, in KernelSpec order.
	OutputShapes [][]int
	OutputDtypes []Dtype
	// Grid is the number of threads along x, y, z (MLX rounds it up to
	// whole threadgroups on CUDA); Threadgroup the threads per group.
	Grid, Threadgroup [3]int
	Template          []TemplateArg
	// Init, when set, fills every output before the kernel runs.
	Init *float32
}

// Call launches k and returns its outputs; on failure they are invalid and
// the sticky error says why, as for every op. Must run inside Do.
func (k *Kernel) Call(c KernelCall) []*Array {
	out := make([]*Array, len(c.OutputDtypes))
	for i := range out {
		out[i] = &Array{}
	}
	if !k.callable(c) || !usable(c.Inputs...) {
		return out
	}
	names, kinds, values, err := templateArgs(c.Template)
	if err != nil {
		fail(fmt.Errorf("kernel %s: %w", k.name, err))
		return out
	}
	var shapes, ndims, dtypes []int32
	for i, s := range c.OutputShapes {
		shapes = append(shapes, ints32(s)...)
		ndims = append(ndims, int32(len(s)))
		dtypes = append(dtypes, int32(c.OutputDtypes[i]))
	}
	dims := []int32{int32(c.Grid[0]), int32(c.Grid[1]), int32(c.Grid[2]),
		int32(c.Threadgroup[0]), int32(c.Threadgroup[1]), int32(c.Threadgroup[2])}
	ins := handles(c.Inputs)
	tn, tnBufs := cStrings(names)
	hs := make([]uintptr, len(out))
	r := call(fnKernelCall, ptr(hs), k.h, ptr(ins), uintptr(len(ins)), ptr(shapes), ptr(ndims), ptr(dtypes),
		uintptr(len(out)), ptr(dims), ptr(tn), ptr(kinds), ptr(values), uintptr(len(names)),
		uintptr(unsafe.Pointer(c.Init)))
	runtime.KeepAlive(tnBufs) // the shim reads them all through uintptrs
	runtime.KeepAlive(c.Init)
	runtime.KeepAlive(ins)
	runtime.KeepAlive(shapes)
	runtime.KeepAlive(ndims)
	runtime.KeepAlive(dtypes)
	runtime.KeepAlive(dims)
	runtime.KeepAlive(tn)
	runtime.KeepAlive(kinds)
	runtime.KeepAlive(values)
	if !check("kernel "+k.name, r) {
		return out
	}
	for i, h := range hs {
		out[i] = track(h)
	}
	return out
}

// callable checks the kernel and the call's output lists, recording the
// sticky error when they cannot be passed on.
func (k *Kernel) callable(c KernelCall) bool {
	mustInDo()
	switch {
	case k == nil || k.h == 0:
		fail(ErrKernelFreed)
	case len(c.OutputShapes) != len(c.OutputDtypes):
		fail(fmt.Errorf("kernel %s: %d output shapes for %d output dtypes", k.name, len(c.OutputShapes), len(c.OutputDtypes)))
	default:
		return true
	}
	return false
}

// templateArgs flattens template arguments into the shim's lists.
func templateArgs(args []TemplateArg) (names []string, kinds, values []int32, err error) {
	for _, a := range args {
		var kind, v int32
		switch x := a.Value.(type) { // kinds: the shim's LMX_TEMPLATE_INT, _BOOL, _DTYPE
		case int:
			kind, v = 0, int32(x)
		case bool:
			kind, v = 1, int32(b2u(x))
		case Dtype:
			kind, v = 2, int32(x)
		default:
			return nil, nil, nil, fmt.Errorf("template argument %s is a %T (want int, bool or Dtype)", a.Name, a.Value)
		}
		names = append(names, a.Name)
		kinds = append(kinds, kind)
		values = append(values, v)
	}
	return names, kinds, values, nil
}

// cStrings returns NUL-terminated copies of ss and the array of their
// addresses the shim reads; the caller keeps bufs alive across the call.
func cStrings(ss []string) (ptrs []uintptr, bufs [][]byte) {
	ptrs = make([]uintptr, len(ss))
	for i, s := range ss {
		b := cString(s)
		bufs = append(bufs, b)
		ptrs[i] = uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	}
	return ptrs, bufs
}

// ptr is the address of a list's first element, 0 for an empty list (the
// shim reads no element then). The caller keeps s alive across the call.
func ptr[T any](s []T) uintptr {
	if len(s) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(s)))
}
