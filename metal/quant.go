package metal

import (
	"unsafe"
)

// Shim functions of quant.cpp.
var (
	// int lmx_quantize(lmx_array* outs, lmx_array w, int32_t group_size, int32_t bits, const char* mode);
	fnQuantize uintptr
	// int lmx_dequantize(lmx_array* out, lmx_array wq, lmx_array scales, lmx_array biases, int32_t group_size, int32_t bits, const char* mode);
	fnDequantize uintptr
	// int lmx_quantized_matmul(lmx_array* out, lmx_array x, lmx_array wq, lmx_array scales, lmx_array biases, int32_t transpose, int32_t group_size, int32_t bits, const char* mode);
	fnQuantizedMatmul uintptr
	// int lmx_gather_qmm(lmx_array* out, lmx_array x, lmx_array wq, lmx_array scales, lmx_array biases, lmx_array lhs, lmx_array rhs, int32_t transpose, int32_t group_size, int32_t bits, const char* mode, int32_t sorted);
	fnGatherQMM uintptr
	// int lmx_gather_mm(lmx_array* out, lmx_array a, lmx_array b, lmx_array lhs, lmx_array rhs, int32_t sorted);
	fnGatherMM uintptr
)

var quantSyms = []sym{
	{"lmx_quantize", &fnQuantize}, {"lmx_dequantize", &fnDequantize},
	{"lmx_quantized_matmul", &fnQuantizedMatmul}, {"lmx_gather_qmm", &fnGatherQMM},
	{"lmx_gather_mm", &fnGatherMM},
}

func loadQuant(lib uintptr) error { return bindSyms(lib, quantSyms) }

// Quantization modes (MLX names).
const (
	ModeAffine = "affine"
	ModeMXFP4  = "mxfp4"
	ModeMXFP8  = "mxfp8"
	ModeNVFP4  = "nvfp4"
)

// Quantize quantizes w along its last axis in groups of groupSize with bits
// per weight. biases is nil for modes without them (the fp modes).
func Quantize(w *Array, groupSize, bits int, mode string) (wq, scales, biases *Array) {
	if !usable(w) {
		return &Array{}, &Array{}, nil
	}
	m := cString(mode)
	r := call(fnQuantize, outp(), w.h, uintptr(groupSize), uintptr(bits),
		uintptr(unsafe.Pointer(unsafe.SliceData(m))))
	if !check("quantize", r) {
		return &Array{}, &Array{}, nil
	}
	wq, scales = track(outSlots[0]), track(outSlots[1])
	if outSlots[2] != 0 {
		biases = track(outSlots[2])
	}
	return wq, scales, biases
}

// Dequantize reverses Quantize (biases nil for modes without them).
func Dequantize(wq, scales, biases *Array, groupSize, bits int, mode string) *Array {
	bh, ok := optional(biases)
	if !usable(wq, scales) || !ok {
		return &Array{}
	}
	m := cString(mode)
	r := call(fnDequantize, outp(), wq.h, scales.h, bh, uintptr(groupSize),
		uintptr(bits), uintptr(unsafe.Pointer(unsafe.SliceData(m))))
	return ret("dequantize", r)
}

// QuantizedMatmul returns x @ dequantize(wq)ᵀ (transpose) or x @ dequantize(wq)
// without materializing the dequantized weights.
func QuantizedMatmul(x, wq, scales, biases *Array, transpose bool, groupSize, bits int, mode string) *Array {
	bh, ok := optional(biases)
	if !usable(x, wq, scales) || !ok {
		return &Array{}
	}
	m := cString(mode)
	r := call(fnQuantizedMatmul, outp(), x.h, wq.h, scales.h, bh, b2u(transpose),
		uintptr(groupSize), uintptr(bits), uintptr(unsafe.Pointer(unsafe.SliceData(m))))
	return ret("quantized_matmul", r)
}

// GatherQMM is QuantizedMatmul where matrix i of the batch multiplies
// x[lhsIndices[i]] by wq[rhsIndices[i]] (mixture-of-experts); nil indices
// mean the identity. sortedIndices promises rhsIndices ascending.
func GatherQMM(x, wq, scales, biases, lhsIndices, rhsIndices *Array, transpose bool, groupSize, bits int,
	mode string, sortedIndices bool) *Array {
	bh, okb := optional(biases)
	lh, okl := optional(lhsIndices)
	rh, okr := optional(rhsIndices)
	if !usable(x, wq, scales) || !okb || !okl || !okr {
		return &Array{}
	}
	m := cString(mode)
	r := call(fnGatherQMM, outp(), x.h, wq.h, scales.h, bh, lh, rh, b2u(transpose),
		uintptr(groupSize), uintptr(bits), uintptr(unsafe.Pointer(unsafe.SliceData(m))), b2u(sortedIndices))
	return ret("gather_qmm", r)
}

// GatherMM is Matmul with the same matrix-level gather as GatherQMM.
//
// MLX's CPU backend gathers float32 only ("[GatherMM::eval] Currently only
// supports float32"); Metal and CUDA take bfloat16 and float16 too. On the
// CPU, other float inputs are multiplied in float32 and the product rounded
// back to their dtype, which is what the GPU kernels do with their float32
// accumulators, so a bfloat16 mixture-of-experts model runs on every backend.
func GatherMM(a, b, lhsIndices, rhsIndices *Array, sortedIndices bool) *Array {
	lh, okl := optional(lhsIndices)
	rh, okr := optional(rhsIndices)
	if !usable(a, b) || !okl || !okr {
		return &Array{}
	}
	if dt := a.Dtype(); (dt != Float32 || b.Dtype() != Float32) && DefaultDevice().Type == CPU {
		out := GatherMM(Astype(a, Float32), Astype(b, Float32), lhsIndices, rhsIndices, sortedIndices)
		if dt == b.Dtype() {
			out = Astype(out, dt)
		}
		return out
	}
	r := call(fnGatherMM, outp(), a.h, b.h, lh, rh, b2u(sortedIndices))
	return ret("gather_mm", r)
}
