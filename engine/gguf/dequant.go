package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Dequantization follows ggml-quants.c's dequantize_row_* (and gguf-py's
// quants.py, its numpy twin, which the tests compare against). Products are
// wrapped in float32(...) before an addition so that the compiler cannot
// fuse them into an FMA (it may on arm64): each operation rounds as it does
// in C and numpy, which makes the results bit-identical.

// dequantizer turns whole blocks of one type into float32 values.
type dequantizer func(dst []float32, src []byte)

// dequantizers are the types LMX decodes.
var dequantizers = map[Type]dequantizer{
	TypeF32: dequantF32, TypeF16: dequantF16, TypeBF16: dequantBF16,
	TypeQ4_0: dequantQ4_0, TypeQ4_1: affine(unpackQ4_1, 32), TypeQ5_0: dequantQ5_0,
	TypeQ5_1: affine(unpackQ5_1, 32), TypeQ8_0: dequantQ8_0, TypeQ2_K: dequantQ2K, TypeQ3_K: dequantQ3K,
	TypeQ4_K: affine(unpackQ4K, qk), TypeQ5_K: affine(unpackQ5K, qk), TypeQ6_K: dequantQ6K,
}

// supportedTypes lists the types Dequantize accepts, for errors.
func supportedTypes() string {
	names := make([]string, 0, len(dequantizers))
	for _, t := range []Type{TypeF32, TypeF16, TypeBF16, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0,
		TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K} {
		names = append(names, t.String())
	}
	return strings.Join(names, ", ")
}

// Dequantize decodes n elements of type t from data (n a multiple of the
// type's block size, data exactly their storage) to float32.
func Dequantize(t Type, data []byte, n int64) ([]float32, error) {
	deq, ok := dequantizers[t]
	if !ok {
		return nil, fmt.Errorf("%w: tensor type %s cannot be dequantized (supported: %s)", ErrUnsupported, t, supportedTypes())
	}
	info := types[t]
	if n%info.blockSize != 0 || int64(len(data)) != t.rowBytes(n) {
		return nil, fmt.Errorf("%w: %d bytes for %d %s elements", ErrCorrupt, len(data), n, t)
	}
	out := make([]float32, n)
	bs, ts := int(info.blockSize), int(info.typeSize)
	for b := range int(n) / bs {
		deq(out[b*bs:(b+1)*bs], data[b*ts:(b+1)*ts])
	}
	return out, nil
}

// f16 decodes an IEEE half-precision value (exact in float32).
func f16(b []byte) float32 {
	h := binary.LittleEndian.Uint16(b)
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf, nan
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	v := float32(mant) * (1.0 / (1 << 24)) // subnormal: mant · 2^-24, exact
	if sign != 0 {
		return -v
	}
	return v
}

func dequantF32(dst []float32, src []byte) {
	dst[0] = math.Float32frombits(binary.LittleEndian.Uint32(src))
}

func dequantF16(dst []float32, src []byte) { dst[0] = f16(src) }

func dequantBF16(dst []float32, src []byte) {
	dst[0] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(src)) << 16)
}

// nibble returns element j of a 32-element block whose 16 bytes qs hold
// elements 0..15 in their low and 16..31 in their high nibbles.
func nibble(qs []byte, j int) uint8 {
	if j < 16 {
		return qs[j] & 0x0f
	}
	return qs[j-16] >> 4
}

// block_q4_0: d (f16), qs[16]; w = d·(q − 8).
func dequantQ4_0(dst []float32, src []byte) {
	d := f16(src)
	for j := range 32 {
		dst[j] = d * float32(int(nibble(src[2:], j))-8)
	}
}

// fifthBit is bit j of the 32-bit little-endian qh of a Q5 block.
func fifthBit(qh []byte, j int) uint8 {
	return uint8(binary.LittleEndian.Uint32(qh)>>j&1) << 4
}

// block_q5_0: d (f16), qh[4], qs[16]; w = d·(q − 16), q's fifth bit in qh.
func dequantQ5_0(dst []float32, src []byte) {
	d := f16(src)
	for j := range 32 {
		q := nibble(src[6:], j) | fifthBit(src[2:6], j)
		dst[j] = d * float32(int(q)-16)
	}
}

// block_q8_0: d (f16), qs[32] (int8); w = d·q.
func dequantQ8_0(dst []float32, src []byte) {
	d := f16(src)
	for j := range 32 {
		dst[j] = float32(int8(src[2+j])) * d
	}
}

// affine decodes a type whose formula is ggml's w = float32(scale·q) +
// offset per 32 weights (Q4_1, Q5_1, Q4_K, Q5_K) through the unpack its
// re-packing uses, so that both read the block the same way. Q4_0, Q5_0 and
// Q8_0 keep their own decoders: ggml subtracts their offset inside the
// product, which gives −0 where scale·q + bias gives +0.
func affine(unpack func(src []byte, q []uint8, scales, biases []float32), blockSize int) dequantizer {
	return func(dst []float32, src []byte) {
		var q [qk]uint8
		var scales, biases [qk / groupSize]float32
		unpack(src, q[:blockSize], scales[:], biases[:])
		for e := range blockSize {
			dst[e] = float32(scales[e/groupSize]*float32(q[e])) + biases[e/groupSize]
		}
	}
}
