package metal

import (
	"fmt"
	"math"
	"unsafe"
)

// Shim functions of shape.cpp.
var (
	// int lmx_reshape(lmx_array* out, lmx_array a, const int32_t* shape, int64_t ndim);
	fnReshape uintptr
	// int lmx_transpose(lmx_array* out, lmx_array a, const int32_t* axes, int64_t naxes);
	fnTranspose uintptr
	// int lmx_swapaxes(lmx_array* out, lmx_array a, int32_t i, int32_t j);
	fnSwapaxes uintptr
	// int lmx_expand_dims(lmx_array* out, lmx_array a, int32_t axis);
	fnExpandDims uintptr
	// int lmx_squeeze(lmx_array* out, lmx_array a, const int32_t* axes, int64_t naxes);
	fnSqueeze uintptr
	// int lmx_astype(lmx_array* out, lmx_array a, int32_t dtype);
	fnAstype uintptr
	// int lmx_broadcast_to(lmx_array* out, lmx_array a, const int32_t* shape, int64_t ndim);
	fnBroadcastTo uintptr
	// int lmx_flatten(lmx_array* out, lmx_array a, int32_t start, int32_t end);
	fnFlatten uintptr
	// int lmx_slice(lmx_array* out, lmx_array a, const int32_t* start, const int32_t* stop, const int32_t* strides, int64_t ndim);
	fnSlice uintptr
	// int lmx_slice_update(lmx_array* out, lmx_array src, lmx_array update, const int32_t* start, const int32_t* stop, const int32_t* strides, int64_t ndim);
	fnSliceUpdate uintptr
	// int lmx_concatenate(lmx_array* out, const lmx_array* arrs, int64_t n, int32_t axis, int32_t stack);
	fnConcatenate uintptr
	// int lmx_split(lmx_array* outs, int64_t n_out, lmx_array a, const int32_t* indices, int64_t nidx, int32_t parts, int32_t axis);
	fnSplit uintptr
	// int lmx_take(lmx_array* out, lmx_array a, lmx_array idx, int32_t axis, int32_t along_axis);
	fnTake uintptr
	// int lmx_put_along_axis(lmx_array* out, lmx_array a, lmx_array idx, lmx_array values, int32_t axis);
	fnPutAlongAxis uintptr
	// int lmx_tri(lmx_array* out, lmx_array a, int32_t k, int32_t upper);
	fnTri uintptr
	// int lmx_pad(lmx_array* out, lmx_array a, const int32_t* low, const int32_t* high, int64_t ndim, uint64_t value);
	fnPad uintptr
)

var shapeSyms = []sym{
	{"lmx_reshape", &fnReshape}, {"lmx_transpose", &fnTranspose},
	{"lmx_swapaxes", &fnSwapaxes}, {"lmx_expand_dims", &fnExpandDims},
	{"lmx_squeeze", &fnSqueeze}, {"lmx_astype", &fnAstype},
	{"lmx_broadcast_to", &fnBroadcastTo}, {"lmx_flatten", &fnFlatten},
	{"lmx_slice", &fnSlice}, {"lmx_slice_update", &fnSliceUpdate},
	{"lmx_concatenate", &fnConcatenate}, {"lmx_split", &fnSplit},
	{"lmx_take", &fnTake}, {"lmx_put_along_axis", &fnPutAlongAxis},
	{"lmx_tri", &fnTri}, {"lmx_pad", &fnPad},
}

func loadShape(lib uintptr) error { return bindSyms(lib, shapeSyms) }

// withInts calls a shim function taking (out, a, const int32_t*, int64_t).
func withInts(op string, fn uintptr, a *Array, v []int) *Array {
	if !usable(a) {
		return &Array{}
	}
	s := ints32(v)
	r := call(fn, outp(), a.h, uintptr(unsafe.Pointer(unsafe.SliceData(s))), uintptr(len(s)))
	return ret(op, r)
}

// Reshape returns a with a new shape (one dimension may be -1).
func Reshape(a *Array, shape ...int) *Array { return withInts("reshape", fnReshape, a, shape) }

// Transpose permutes the axes (reverses them when none are given).
func Transpose(a *Array, axes ...int) *Array {
	return withInts("transpose", fnTranspose, a, axes)
}

// Squeeze removes the given size-1 axes (all of them when none are given).
func Squeeze(a *Array, axes ...int) *Array { return withInts("squeeze", fnSqueeze, a, axes) }

// BroadcastTo broadcasts a to shape.
func BroadcastTo(a *Array, shape ...int) *Array {
	return withInts("broadcast_to", fnBroadcastTo, a, shape)
}

// Swapaxes exchanges axes i and j.
func Swapaxes(a *Array, i, j int) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnSwapaxes, outp(), a.h, uintptr(i), uintptr(j))
	return ret("swapaxes", r)
}

// ExpandDims inserts a size-1 axis at axis.
func ExpandDims(a *Array, axis int) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnExpandDims, outp(), a.h, uintptr(axis))
	return ret("expand_dims", r)
}

// Astype converts a to dt.
func Astype(a *Array, dt Dtype) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnAstype, outp(), a.h, uintptr(dt))
	return ret("astype", r)
}

// Flatten merges axes start..end (inclusive; negative from the end).
func Flatten(a *Array, start, end int) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnFlatten, outp(), a.h, uintptr(start), uintptr(end))
	return ret("flatten", r)
}

// Slice returns a[start[i]:stop[i]] on every axis (full-rank start/stop).
func Slice(a *Array, start, stop []int) *Array {
	return SliceStrided(a, start, stop, ones(len(start)))
}

// SliceStrided returns a[start[i]:stop[i]:strides[i]] on every axis.
func SliceStrided(a *Array, start, stop, strides []int) *Array {
	if !usable(a) || !sameLen("slice", start, stop, strides) {
		return &Array{}
	}
	s0, s1, s2 := ints32(start), ints32(stop), ints32(strides)
	r := call(fnSlice, outp(), a.h, uintptr(unsafe.Pointer(unsafe.SliceData(s0))),
		uintptr(unsafe.Pointer(unsafe.SliceData(s1))), uintptr(unsafe.Pointer(unsafe.SliceData(s2))),
		uintptr(len(s0)))
	return ret("slice", r)
}

// SliceUpdate returns src with src[start:stop] replaced by update.
func SliceUpdate(src, update *Array, start, stop []int) *Array {
	strides := ones(len(start))
	if !usable(src, update) || !sameLen("slice_update", start, stop, strides) {
		return &Array{}
	}
	s0, s1, s2 := ints32(start), ints32(stop), ints32(strides)
	r := call(fnSliceUpdate, outp(), src.h, update.h,
		uintptr(unsafe.Pointer(unsafe.SliceData(s0))), uintptr(unsafe.Pointer(unsafe.SliceData(s1))),
		uintptr(unsafe.Pointer(unsafe.SliceData(s2))), uintptr(len(s0)))
	return ret("slice_update", r)
}

func ones(n int) []int {
	v := make([]int, n)
	for i := range v {
		v[i] = 1
	}
	return v
}

func sameLen(op string, lists ...[]int) bool {
	for _, l := range lists[1:] {
		if len(l) != len(lists[0]) {
			fail(fmt.Errorf("metal: %s: start, stop and strides differ in length", op))
			return false
		}
	}
	return true
}

func join(op string, arrs []*Array, axis int, stack bool) *Array {
	mustInDo()
	hs := handles(arrs)
	if hs == nil && len(arrs) > 0 {
		return &Array{}
	}
	r := call(fnConcatenate, outp(), uintptr(unsafe.Pointer(unsafe.SliceData(hs))),
		uintptr(len(hs)), uintptr(axis), b2u(stack))
	return ret(op, r)
}

// Concatenate joins arrs along an existing axis.
func Concatenate(arrs []*Array, axis int) *Array { return join("concatenate", arrs, axis, false) }

// Stack joins arrs along a new axis.
func Stack(arrs []*Array, axis int) *Array { return join("stack", arrs, axis, true) }

// Split cuts a at indices along axis into len(indices)+1 parts.
func Split(a *Array, indices []int, axis int) []*Array {
	return split(a, indices, len(indices)+1, axis)
}

// SplitEqual cuts a into n equal parts along axis.
func SplitEqual(a *Array, n, axis int) []*Array { return split(a, nil, n, axis) }

func split(a *Array, indices []int, n, axis int) []*Array {
	out := make([]*Array, n)
	for i := range out {
		out[i] = &Array{}
	}
	if !usable(a) {
		return out
	}
	hs := make([]uintptr, n)
	idx := ints32(indices)
	r := call(fnSplit, uintptr(unsafe.Pointer(unsafe.SliceData(hs))), uintptr(n), a.h,
		uintptr(unsafe.Pointer(unsafe.SliceData(idx))), uintptr(len(idx)), uintptr(n), uintptr(axis))
	if !check("split", r) {
		return out
	}
	for i, h := range hs {
		out[i] = track(h)
	}
	return out
}

func take(a, idx *Array, axis int, along bool) *Array {
	if !usable(a, idx) {
		return &Array{}
	}
	r := call(fnTake, outp(), a.h, idx.h, uintptr(axis), b2u(along))
	return ret("take", r)
}

// Take gathers the entries idx (any integer shape) along axis.
func Take(a, idx *Array, axis int) *Array { return take(a, idx, axis, false) }

// TakeAlongAxis gathers with idx broadcast against a along axis.
func TakeAlongAxis(a, idx *Array, axis int) *Array { return take(a, idx, axis, true) }

// PutAlongAxis returns a with values written at idx along axis.
func PutAlongAxis(a, idx, values *Array, axis int) *Array {
	if !usable(a, idx, values) {
		return &Array{}
	}
	r := call(fnPutAlongAxis, outp(), a.h, idx.h, values.h, uintptr(axis))
	return ret("put_along_axis", r)
}

func tri(a *Array, k int, upper bool) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnTri, outp(), a.h, uintptr(k), b2u(upper))
	return ret("tri", r)
}

// Tril zeroes the entries above the kth diagonal of the last two axes.
func Tril(a *Array, k int) *Array { return tri(a, k, false) }

// Triu zeroes the entries below the kth diagonal of the last two axes.
func Triu(a *Array, k int) *Array { return tri(a, k, true) }

// Pad pads every axis i with low[i] values before and high[i] after, all
// equal to v.
func Pad(a *Array, low, high []int, v float64) *Array {
	if !usable(a) || !sameLen("pad", low, high) {
		return &Array{}
	}
	l, h := ints32(low), ints32(high)
	r := call(fnPad, outp(), a.h, uintptr(unsafe.Pointer(unsafe.SliceData(l))),
		uintptr(unsafe.Pointer(unsafe.SliceData(h))), uintptr(len(l)), uintptr(math.Float64bits(v)))
	return ret("pad", r)
}
