package metal

import (
	"math"
	"runtime"
	"unsafe"
)

// Shim functions of fast.cpp.
var (
	// int lmx_rms_norm(lmx_array* out, lmx_array x, lmx_array w, uint64_t eps);
	fnRMSNorm uintptr
	// int lmx_layer_norm(lmx_array* out, lmx_array x, lmx_array w, lmx_array b, uint64_t eps);
	fnLayerNorm uintptr
	// int lmx_rope(lmx_array* out, lmx_array x, int32_t dims, int32_t traditional, uint64_t base, uint64_t scale, int32_t offset, lmx_array offsets, lmx_array freqs);
	fnRoPE uintptr
	// int lmx_sdpa(lmx_array* out, lmx_array q, lmx_array k, lmx_array v, uint64_t scale, const char* mask_mode, lmx_array mask);
	fnSDPA uintptr
	// int lmx_sdpa_sinks(lmx_array* out, lmx_array q, lmx_array k, lmx_array v, uint64_t scale, const char* mask_mode, lmx_array mask, lmx_array sinks);
	fnSDPASinks uintptr
	// int lmx_swiglu_oai(lmx_array* out, lmx_array gate, lmx_array x);
	fnSwiGLUOAI uintptr
)

var fastSyms = []sym{
	{"lmx_rms_norm", &fnRMSNorm}, {"lmx_layer_norm", &fnLayerNorm},
	{"lmx_rope", &fnRoPE}, {"lmx_sdpa", &fnSDPA}, {"lmx_sdpa_sinks", &fnSDPASinks},
	{"lmx_swiglu_oai", &fnSwiGLUOAI}, {"lmx_gated_delta_step", &fnGatedDeltaStep},
	{"lmx_metal_kernel", &fnMetalKernel}, {"lmx_cuda_kernel", &fnCUDAKernel},
	{"lmx_kernel_free", &fnKernelFree}, {"lmx_kernel_call", &fnKernelCall},
}

func loadFast(lib uintptr) error { return bindSyms(lib, fastSyms) }

// RMSNorm normalizes the last axis by its root mean square and scales by w
// (nil: no scale).
func RMSNorm(x, w *Array, eps float64) *Array {
	wh, ok := optional(w)
	if !usable(x) || !ok {
		return &Array{}
	}
	r := call(fnRMSNorm, outp(), x.h, wh, uintptr(math.Float64bits(eps)))
	return ret("rms_norm", r)
}

// LayerNorm normalizes the last axis to zero mean and unit variance, then
// applies w and b (each may be nil).
func LayerNorm(x, w, b *Array, eps float64) *Array {
	wh, okw := optional(w)
	bh, okb := optional(b)
	if !usable(x) || !okw || !okb {
		return &Array{}
	}
	r := call(fnLayerNorm, outp(), x.h, wh, bh, uintptr(math.Float64bits(eps)))
	return ret("layer_norm", r)
}

// RoPE applies rotary position embeddings to the first dims features of the
// last axis of x ([..., L, D]); positions start at offset. traditional
// rotates adjacent pairs, otherwise the two halves.
func RoPE(x *Array, dims int, traditional bool, base, scale float64, offset int) *Array {
	return rope(x, dims, traditional, base, scale, offset, nil, nil)
}

// RoPEOffsets is RoPE with per-sequence start positions: offsets is an
// int32 array of shape [B] (or a scalar) for x of shape [B, ..., L, D].
func RoPEOffsets(x *Array, dims int, traditional bool, base, scale float64, offsets *Array) *Array {
	if offsets == nil {
		usable(offsets) // records ErrNilArray
		return &Array{}
	}
	return rope(x, dims, traditional, base, scale, 0, offsets, nil)
}

// RoPEFreqs is RoPE with custom inverse frequencies freqs (shape [dims/2]),
// e.g. Llama 3 scaling; there is no base.
func RoPEFreqs(x *Array, dims int, traditional bool, scale float64, offset int, freqs *Array) *Array {
	if freqs == nil {
		usable(freqs)
		return &Array{}
	}
	return rope(x, dims, traditional, 0, scale, offset, nil, freqs)
}

// RoPEFreqsOffsets combines custom frequencies and per-sequence offsets.
func RoPEFreqsOffsets(x *Array, dims int, traditional bool, scale float64, offsets, freqs *Array) *Array {
	if offsets == nil || freqs == nil {
		usable(offsets, freqs)
		return &Array{}
	}
	return rope(x, dims, traditional, 0, scale, 0, offsets, freqs)
}

func rope(x *Array, dims int, traditional bool, base, scale float64, offset int, offsets, freqs *Array) *Array {
	oh, oko := optional(offsets)
	fh, okf := optional(freqs)
	if !usable(x) || !oko || !okf {
		return &Array{}
	}
	r := call(fnRoPE, outp(), x.h, uintptr(dims), b2u(traditional),
		uintptr(math.Float64bits(base)), uintptr(math.Float64bits(scale)), uintptr(offset), oh, fh)
	return ret("rope", r)
}

// Mask modes of SDPA.
const (
	MaskNone   = ""
	MaskCausal = "causal"
	MaskArray  = "array"
)

// SDPA computes softmax(scale * q kᵀ + mask) v for q [B, Hq, Lq, D] and
// k, v [B, Hkv, Lk, D]; Hq a multiple of Hkv gives grouped-query attention.
// mask is MaskNone, MaskCausal (aligned to the end of the keys) or MaskArray
// with maskArr boolean (true = attend) or additive float.
func SDPA(q, k, v *Array, scale float64, mask string, maskArr *Array) *Array {
	mh, ok := optional(maskArr)
	if !usable(q, k, v) || !ok {
		return &Array{}
	}
	mode := cString(mask)
	r := call(fnSDPA, outp(), q.h, k.h, v.h, uintptr(math.Float64bits(scale)),
		uintptr(unsafe.Pointer(unsafe.SliceData(mode))), mh)
	return ret("sdpa", r)
}

// SDPASinks is SDPA with attention sinks (gpt-oss): sinks [Hq] holds one
// logit per query head that joins the softmax's denominator and attends to
// nothing. sinks must promote to the attention's dtype (MLX refuses float32
// sinks for bfloat16 queries): cast them to q's dtype first.
func SDPASinks(q, k, v *Array, scale float64, mask string, maskArr, sinks *Array) *Array {
	mh, ok := optional(maskArr)
	if !usable(q, k, v, sinks) || !ok {
		return &Array{}
	}
	mode := cString(mask)
	r := call(fnSDPASinks, outp(), q.h, k.h, v.h, uintptr(math.Float64bits(scale)),
		uintptr(unsafe.Pointer(unsafe.SliceData(mode))), mh, sinks.h)
	runtime.KeepAlive(mode) // the shim reads it through a uintptr
	return ret("sdpa_sinks", r)
}

// SwiGLUOAI is gpt-oss's clamped gated activation (mlx_lm's swiglu_oai):
// (clip(x, -7, 7) + 1) · g·σ(1.702·g) with g = min(gate, 7), one compiled
// kernel (unfused when compilation is off).
func SwiGLUOAI(gate, x *Array) *Array { return glu(fnSwiGLUOAI, "swiglu_oai", gate, x) }
