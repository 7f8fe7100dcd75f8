package gguf

import (
	"fmt"
	"math"
)

// groupSize is the MLX quantization group the re-packed types use: ggml's
// 32-element block.
const groupSize = 32

// packedWeight is a weight in MLX's affine quantization (group size 32), the
// layout mlx.core.quantize produces: each row's values in uint32 words,
// element j of a group at bit Bits·(j mod 32/Bits) of word j·Bits/32, low
// bits first; w = scale·q + bias per group.
type packedWeight struct {
	Bits           int
	Words          []uint32  // rows × cols·Bits/32
	Scales, Biases []float32 // rows × cols/32
}

// packers re-pack the ggml types whose formula is an affine map of an
// unsigned integer with one scale and one offset per 32 weights.
var packers = map[Type]struct {
	bits int
	pack func(src []byte, words []uint32) (scale, bias float32)
}{
	TypeQ4_0: {4, packQ4_0}, TypeQ4_1: {4, packQ4_1}, TypeQ8_0: {8, packQ8_0},
}

// repackable reports whether tensors of type t can be stored as MLX affine
// quantization without changing a value, and with how many bits.
func repackable(t Type) (bits int, ok bool) {
	p, ok := packers[t]
	return p.bits, ok
}

// repack converts n elements of a Q4_0, Q4_1 or Q8_0 tensor to MLX's affine
// layout. Every weight MLX dequantizes equals ggml's value exactly: the
// scale is ggml's d, and the bias ggml's offset (−8d, m, −128d), all exact
// in float32.
func repack(t Type, data []byte, n int64) (*packedWeight, error) {
	p, ok := packers[t]
	if !ok {
		return nil, fmt.Errorf("%w: %s has no exact MLX affine form", ErrUnsupported, t)
	}
	if n%groupSize != 0 || int64(len(data)) != t.rowBytes(n) {
		return nil, fmt.Errorf("%w: %d bytes for %d %s elements", ErrCorrupt, len(data), n, t)
	}
	blocks := int(n / groupSize)
	ts := int(types[t].typeSize)
	out := &packedWeight{Bits: p.bits, Words: make([]uint32, blocks*p.bits),
		Scales: make([]float32, blocks), Biases: make([]float32, blocks)}
	for b := range blocks {
		out.Scales[b], out.Biases[b] = p.pack(data[b*ts:(b+1)*ts], out.Words[b*p.bits:(b+1)*p.bits])
	}
	return out, nil
}

// pack4 packs the 32 nibbles of a ggml block (qs[i] low nibble is element
// i, high nibble element i+16) into four words of eight 4-bit values.
func pack4(qs []byte, words []uint32) {
	for j := range 32 {
		words[j/8] |= uint32(nibble(qs, j)) << (4 * (j % 8))
	}
}

// packQ4_0: w = d·(q − 8) = d·q + (−8d).
func packQ4_0(src []byte, words []uint32) (float32, float32) {
	d := f16(src)
	pack4(src[2:18], words)
	return d, -8 * d
}

// packQ4_1: w = d·q + m.
func packQ4_1(src []byte, words []uint32) (float32, float32) {
	pack4(src[4:20], words)
	return f16(src), f16(src[2:])
}

// packQ8_0: w = d·q for int8 q = d·(q + 128) + (−128d), q + 128 unsigned.
func packQ8_0(src []byte, words []uint32) (float32, float32) {
	d := f16(src)
	for j := range 32 {
		words[j/4] |= uint32(src[2+j]^0x80) << (8 * (j % 4))
	}
	return d, -128 * d
}

// exactIn reports whether every value is representable in dtype ("float32",
// "float16" or "bfloat16"): only then can scales and biases be stored in it
// without changing a dequantized weight.
func exactIn(dtype string, values ...[]float32) bool {
	for _, vs := range values {
		for _, v := range vs {
			if !representable(dtype, v) {
				return false
			}
		}
	}
	return true
}

// representable reports whether the float32 v converts to dtype and back
// unchanged.
func representable(dtype string, v float32) bool {
	if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
		return false
	}
	switch dtype {
	case "bfloat16":
		return math.Float32bits(v)&0xffff == 0
	case "float16":
		a := math.Abs(float64(v))
		if a == 0 {
			return true
		}
		if a > 65504 {
			return false
		}
		if a < 1.0/(1<<14) { // subnormal: a multiple of 2^-24
			return a*(1<<24) == math.Trunc(a*(1<<24))
		}
		frac, _ := math.Frexp(a) // 11 significant bits
		return frac*(1<<11) == math.Trunc(frac*(1<<11))
	}
	return true
}
