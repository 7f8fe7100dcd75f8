package gguf

import (
	"fmt"
	"math"
)

// groupSize is the MLX quantization group the re-packed types use: ggml's
// 32-element block.
const groupSize = 32

// packedWeight is a weight in MLX's affine quantization (group size 32), the
// layout mlx.core.quantize produces: each row's values as one little-endian
// bit stream in uint32 words, element j at bit Bits·j (a group of 32 fills
// Bits words); w = scale·q + bias per group.
type packedWeight struct {
	Bits           int
	Words          []uint32  // rows × cols·Bits/32
	Scales, Biases []float32 // rows × cols/32
}

// packers are the ggml types whose every 32 weights are an affine map of an
// unsigned integer, one scale and one offset per group: unpack decodes one
// ggml block into its integers q and each group's scale and bias.
var packers = map[Type]struct {
	bits   int
	unpack func(src []byte, q []uint8, scales, biases []float32)
}{
	TypeQ4_0: {4, unpackQ4_0}, TypeQ4_1: {4, unpackQ4_1}, TypeQ5_0: {5, unpackQ5_0},
	TypeQ5_1: {5, unpackQ5_1}, TypeQ8_0: {8, unpackQ8_0}, TypeQ4_K: {4, unpackQ4K}, TypeQ5_K: {5, unpackQ5K},
}

// repackable reports whether tensors of type t can be stored as MLX affine
// quantization without changing a value, and with how many bits.
func repackable(t Type) (bits int, ok bool) {
	p, ok := packers[t]
	return p.bits, ok
}

// repack converts n elements of a repackable tensor to MLX's affine layout.
// Every weight MLX dequantizes (scale·q + bias) equals ggml's value
// exactly: the scales and biases are ggml's float16 values times small
// integers, exact in float32, scale·q is exact, and the one addition rounds
// as ggml's does (or, where ggml subtracts an offset inside the product,
// its exact result is representable).
func repack(t Type, data []byte, n int64) (*packedWeight, error) {
	p, ok := packers[t]
	if !ok {
		return nil, fmt.Errorf("%w: %s has no exact MLX affine form", ErrUnsupported, t)
	}
	info := types[t]
	if n%info.blockSize != 0 || int64(len(data)) != t.rowBytes(n) {
		return nil, fmt.Errorf("%w: %d bytes for %d %s elements", ErrCorrupt, len(data), n, t)
	}
	groups := int(n / groupSize)
	out := &packedWeight{Bits: p.bits, Words: make([]uint32, groups*p.bits),
		Scales: make([]float32, groups), Biases: make([]float32, groups)}
	bs, ts := int(info.blockSize), int(info.typeSize)
	per := bs / groupSize // groups per ggml block
	q := make([]uint8, bs)
	for b := range int(n) / bs {
		g := b * per
		p.unpack(data[b*ts:(b+1)*ts], q, out.Scales[g:g+per], out.Biases[g:g+per])
		packBits(q, p.bits, out.Words[g*p.bits:(g+per)*p.bits])
	}
	return out, nil
}

// packBits writes the bits-bit values q as one little-endian bit stream,
// value j at bit bits·j (a 5-bit value may straddle two words).
func packBits(q []uint8, bits int, words []uint32) {
	for j, v := range q {
		pos := bits * j
		words[pos/32] |= uint32(v) << (pos % 32)
		if pos%32+bits > 32 {
			words[pos/32+1] |= uint32(v) >> (32 - pos%32)
		}
	}
}

// unpackQ4_0: block_q4_0 is d (f16), qs[16]; w = d·(q − 8) = d·q + (−8d).
func unpackQ4_0(src []byte, q []uint8, scales, biases []float32) {
	for j := range 32 {
		q[j] = nibble(src[2:], j)
	}
	d := f16(src)
	scales[0], biases[0] = d, -8*d
}

// unpackQ4_1: block_q4_1 is d, m (f16), qs[16]; w = d·q + m.
func unpackQ4_1(src []byte, q []uint8, scales, biases []float32) {
	for j := range 32 {
		q[j] = nibble(src[4:], j)
	}
	scales[0], biases[0] = f16(src), f16(src[2:])
}

// unpackQ5_0: block_q5_0 is d (f16), qh[4], qs[16]; w = d·(q − 16) =
// d·q + (−16d).
func unpackQ5_0(src []byte, q []uint8, scales, biases []float32) {
	for j := range 32 {
		q[j] = nibble(src[6:], j) | fifthBit(src[2:6], j)
	}
	d := f16(src)
	scales[0], biases[0] = d, -16*d
}

// unpackQ5_1: block_q5_1 is d, m (f16), qh[4], qs[16]; w = d·q + m.
func unpackQ5_1(src []byte, q []uint8, scales, biases []float32) {
	for j := range 32 {
		q[j] = nibble(src[8:], j) | fifthBit(src[4:8], j)
	}
	scales[0], biases[0] = f16(src), f16(src[2:])
}

// unpackQ8_0: block_q8_0 is d (f16), qs[32] (int8); w = d·q =
// d·(q + 128) + (−128d), q + 128 unsigned.
func unpackQ8_0(src []byte, q []uint8, scales, biases []float32) {
	for j := range 32 {
		q[j] = src[2+j] ^ 0x80
	}
	d := f16(src)
	scales[0], biases[0] = d, -128*d
}

// unpackQ4K: block_q4_K is d, dmin (f16), scales[12], qs[128]; per
// sub-block of 32, w = (d·sc)·q − dmin·m.
func unpackQ4K(src []byte, q []uint8, scales, biases []float32) {
	for e := range qk {
		q[e] = uint8(kNibble(src[16:144], e))
	}
	kScales(src, scales, biases)
}

// unpackQ5K: block_q5_K is d, dmin, scales[12], qh[32], qs[128]: Q4_K with
// a fifth bit, bit e/32 of qh[e mod 32].
func unpackQ5K(src []byte, q []uint8, scales, biases []float32) {
	qh, qs := src[16:48], src[48:176]
	for e := range qk {
		q[e] = uint8(kNibble(qs, e) | int(qh[e%32]>>(e/32)&1)<<4)
	}
	kScales(src, scales, biases)
}

// kScales decodes the eight sub-block scales d·sc and biases −dmin·m of a
// Q4_K or Q5_K block (d, dmin and the 12 packed bytes lead both).
func kScales(src []byte, scales, biases []float32) {
	d, dmin := f16(src), f16(src[2:])
	for sub := range 8 {
		sc, m := scaleMinK4(src[4:16], sub)
		scales[sub], biases[sub] = d*float32(sc), -(dmin * float32(m))
	}
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
