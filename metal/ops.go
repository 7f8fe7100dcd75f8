package metal

import (
	"math"
	"unsafe"
)

// Shim functions of ops.cpp.
var (
	// int lmx_unary(lmx_array* out, int32_t op, lmx_array a);
	fnUnary uintptr
	// int lmx_binary(lmx_array* out, int32_t op, lmx_array a, lmx_array b);
	fnBinary uintptr
	// int lmx_binary_scalar(lmx_array* out, int32_t op, lmx_array a, uint64_t value);
	fnBinaryScalar uintptr
	// int lmx_where(lmx_array* out, lmx_array cond, lmx_array a, lmx_array b);
	fnWhere uintptr
	// int lmx_reduce(lmx_array* out, int32_t op, lmx_array a, const int32_t* axes, int64_t naxes, int32_t keepdims);
	fnReduce uintptr
	// int lmx_arg_reduce(lmx_array* out, int32_t op, lmx_array a, int32_t axis, int32_t keepdims);
	fnArgReduce uintptr
	// int lmx_softmax(lmx_array* out, lmx_array a, int32_t axis);
	fnSoftmax uintptr
	// int lmx_cumsum(lmx_array* out, lmx_array a, int32_t axis, int32_t reverse, int32_t inclusive);
	fnCumsum uintptr
	// int lmx_sort_op(lmx_array* out, int32_t op, lmx_array a, int32_t k, int32_t axis);
	fnSortOp uintptr
	// int lmx_addmm(lmx_array* out, lmx_array c, lmx_array a, lmx_array b, uint64_t alpha, uint64_t beta);
	fnAddmm uintptr
)

var opsSyms = []sym{
	{"lmx_unary", &fnUnary}, {"lmx_binary", &fnBinary},
	{"lmx_binary_scalar", &fnBinaryScalar}, {"lmx_where", &fnWhere},
	{"lmx_reduce", &fnReduce}, {"lmx_arg_reduce", &fnArgReduce},
	{"lmx_softmax", &fnSoftmax}, {"lmx_cumsum", &fnCumsum},
	{"lmx_sort_op", &fnSortOp}, {"lmx_addmm", &fnAddmm},
}

func loadOps(lib uintptr) error { return bindSyms(lib, opsSyms) }

// Op codes, as in lmxshim.h.
const (
	opNegative = iota
	opExp
	opLog
	opSqrt
	opRsqrt
	opSquare
	opAbs
	opTanh
	opSigmoid
	opSin
	opCos
	opErf
	opLog1p
	opReciprocal
	opFloor
	opLogicalNot
	opContiguous
	opStopGradient
)

const (
	opAdd = iota
	opSubtract
	opMultiply
	opDivide
	opMaximum
	opMinimum
	opPower
	opGreater
	opGreaterEqual
	opLess
	opLessEqual
	opEqual
	opNotEqual
	opLogicalAnd
	opLogicalOr
	opMatmul
	opRightShift
	opBitwiseAnd
)

const (
	reduceSum = iota
	reduceMean
	reduceMax
	reduceMin
	reduceLogsumexp
)

const (
	sortSort = iota
	sortArgsort
	sortArgpartition
	sortTopk
)

func unary(op int, a *Array) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnUnary, outp(), uintptr(op), a.h)
	return ret("unary", r)
}

func binaryOp(op int, a, b *Array) *Array {
	if !usable(a, b) {
		return &Array{}
	}
	r := call(fnBinary, outp(), uintptr(op), a.h, b.h)
	return ret("binary", r)
}

func binaryScalar(op int, a *Array, v float64) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnBinaryScalar, outp(), uintptr(op), a.h, uintptr(math.Float64bits(v)))
	return ret("binary_scalar", r)
}

// Add returns a + b (broadcasting).
func Add(a, b *Array) *Array { return binaryOp(opAdd, a, b) }

// RightShift shifts integer a right by b bits, elementwise.
func RightShift(a, b *Array) *Array { return binaryOp(opRightShift, a, b) }

// BitwiseAnd is the elementwise bitwise and of integer arrays.
func BitwiseAnd(a, b *Array) *Array { return binaryOp(opBitwiseAnd, a, b) }

// Sub returns a - b.
func Sub(a, b *Array) *Array { return binaryOp(opSubtract, a, b) }

// Mul returns a * b.
func Mul(a, b *Array) *Array { return binaryOp(opMultiply, a, b) }

// Div returns a / b.
func Div(a, b *Array) *Array { return binaryOp(opDivide, a, b) }

// Maximum returns the elementwise maximum.
func Maximum(a, b *Array) *Array { return binaryOp(opMaximum, a, b) }

// Minimum returns the elementwise minimum.
func Minimum(a, b *Array) *Array { return binaryOp(opMinimum, a, b) }

// Power returns a ** b.
func Power(a, b *Array) *Array { return binaryOp(opPower, a, b) }

// Greater returns a > b.
func Greater(a, b *Array) *Array { return binaryOp(opGreater, a, b) }

// GreaterEqual returns a >= b.
func GreaterEqual(a, b *Array) *Array { return binaryOp(opGreaterEqual, a, b) }

// Less returns a < b.
func Less(a, b *Array) *Array { return binaryOp(opLess, a, b) }

// LessEqual returns a <= b.
func LessEqual(a, b *Array) *Array { return binaryOp(opLessEqual, a, b) }

// Equal returns a == b.
func Equal(a, b *Array) *Array { return binaryOp(opEqual, a, b) }

// NotEqual returns a != b.
func NotEqual(a, b *Array) *Array { return binaryOp(opNotEqual, a, b) }

// LogicalAnd returns a && b.
func LogicalAnd(a, b *Array) *Array { return binaryOp(opLogicalAnd, a, b) }

// LogicalOr returns a || b.
func LogicalOr(a, b *Array) *Array { return binaryOp(opLogicalOr, a, b) }

// Matmul returns the matrix product a @ b (batched over leading axes).
func Matmul(a, b *Array) *Array { return binaryOp(opMatmul, a, b) }

// AddScalar returns a + v, with v in a's dtype.
func AddScalar(a *Array, v float64) *Array { return binaryScalar(opAdd, a, v) }

// MulScalar returns a * v, with v in a's dtype.
func MulScalar(a *Array, v float64) *Array { return binaryScalar(opMultiply, a, v) }

// Negative returns -a.
func Negative(a *Array) *Array { return unary(opNegative, a) }

// Exp returns e**a.
func Exp(a *Array) *Array { return unary(opExp, a) }

// Log returns the natural logarithm.
func Log(a *Array) *Array { return unary(opLog, a) }

// Sqrt returns the square root.
func Sqrt(a *Array) *Array { return unary(opSqrt, a) }

// Rsqrt returns 1/sqrt(a).
func Rsqrt(a *Array) *Array { return unary(opRsqrt, a) }

// Square returns a*a.
func Square(a *Array) *Array { return unary(opSquare, a) }

// Abs returns |a|.
func Abs(a *Array) *Array { return unary(opAbs, a) }

// Tanh returns the hyperbolic tangent.
func Tanh(a *Array) *Array { return unary(opTanh, a) }

// Sigmoid returns 1/(1+e**-a).
func Sigmoid(a *Array) *Array { return unary(opSigmoid, a) }

// Sin returns the sine.
func Sin(a *Array) *Array { return unary(opSin, a) }

// Cos returns the cosine.
func Cos(a *Array) *Array { return unary(opCos, a) }

// Erf returns the error function.
func Erf(a *Array) *Array { return unary(opErf, a) }

// Log1p returns log(1+a).
func Log1p(a *Array) *Array { return unary(opLog1p, a) }

// Reciprocal returns 1/a.
func Reciprocal(a *Array) *Array { return unary(opReciprocal, a) }

// Floor rounds down.
func Floor(a *Array) *Array { return unary(opFloor, a) }

// LogicalNot returns !a.
func LogicalNot(a *Array) *Array { return unary(opLogicalNot, a) }

// Contiguous returns a row-contiguous copy of a (a itself when it is one).
func Contiguous(a *Array) *Array { return unary(opContiguous, a) }

// StopGradient returns a, cut from gradient computation.
func StopGradient(a *Array) *Array { return unary(opStopGradient, a) }

// Where returns a where cond is true, else b.
func Where(cond, a, b *Array) *Array {
	if !usable(cond, a, b) {
		return &Array{}
	}
	r := call(fnWhere, outp(), cond.h, a.h, b.h)
	return ret("where", r)
}

func reduce(op int, a *Array, axes []int, keepdims bool) *Array {
	if !usable(a) {
		return &Array{}
	}
	ax := ints32(axes)
	r := call(fnReduce, outp(), uintptr(op), a.h,
		uintptr(unsafe.Pointer(unsafe.SliceData(ax))), uintptr(len(ax)), b2u(keepdims))
	return ret("reduce", r)
}

// Sum reduces over axes (all axes when axes is empty).
func Sum(a *Array, axes []int, keepdims bool) *Array { return reduce(reduceSum, a, axes, keepdims) }

// Mean averages over axes (all axes when axes is empty).
func Mean(a *Array, axes []int, keepdims bool) *Array {
	return reduce(reduceMean, a, axes, keepdims)
}

// Max reduces with maximum over axes (all axes when axes is empty).
func Max(a *Array, axes []int, keepdims bool) *Array { return reduce(reduceMax, a, axes, keepdims) }

// Min reduces with minimum over axes (all axes when axes is empty).
func Min(a *Array, axes []int, keepdims bool) *Array { return reduce(reduceMin, a, axes, keepdims) }

// Logsumexp returns log(sum(exp(a))) over axes, computed stably.
func Logsumexp(a *Array, axes []int, keepdims bool) *Array {
	return reduce(reduceLogsumexp, a, axes, keepdims)
}

func argReduce(op int, a *Array, axis int, keepdims bool) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnArgReduce, outp(), uintptr(op), a.h, uintptr(axis), b2u(keepdims))
	return ret("arg_reduce", r)
}

// Argmax returns the index (uint32) of the maximum along axis.
func Argmax(a *Array, axis int, keepdims bool) *Array { return argReduce(0, a, axis, keepdims) }

// Argmin returns the index (uint32) of the minimum along axis.
func Argmin(a *Array, axis int, keepdims bool) *Array { return argReduce(1, a, axis, keepdims) }

// Softmax returns the softmax along axis, accumulated in float32 for
// half-precision inputs (MLX's precise mode).
func Softmax(a *Array, axis int) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnSoftmax, outp(), a.h, uintptr(axis))
	return ret("softmax", r)
}

// Cumsum returns the cumulative sum along axis.
func Cumsum(a *Array, axis int, reverse, inclusive bool) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnCumsum, outp(), a.h, uintptr(axis), b2u(reverse), b2u(inclusive))
	return ret("cumsum", r)
}

func sortOp(op int, a *Array, k, axis int) *Array {
	if !usable(a) {
		return &Array{}
	}
	r := call(fnSortOp, outp(), uintptr(op), a.h, uintptr(k), uintptr(axis))
	return ret("sort", r)
}

// Sort sorts along axis.
func Sort(a *Array, axis int) *Array { return sortOp(sortSort, a, 0, axis) }

// Argsort returns the indices (uint32) that sort a along axis.
func Argsort(a *Array, axis int) *Array { return sortOp(sortArgsort, a, 0, axis) }

// Argpartition returns indices (uint32) such that the kth element is in its
// sorted place, smaller ones before it and larger ones after.
func Argpartition(a *Array, kth, axis int) *Array {
	return sortOp(sortArgpartition, a, kth, axis)
}

// Topk returns the k largest values along axis (in no particular order).
func Topk(a *Array, k, axis int) *Array { return sortOp(sortTopk, a, k, axis) }

// Addmm returns beta*c + alpha*(a @ b).
func Addmm(c, a, b *Array, alpha, beta float64) *Array {
	if !usable(c, a, b) {
		return &Array{}
	}
	r := call(fnAddmm, outp(), c.h, a.h, b.h,
		uintptr(math.Float64bits(alpha)), uintptr(math.Float64bits(beta)))
	return ret("addmm", r)
}
