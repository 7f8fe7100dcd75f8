package gguf

// The K-quants pack 256 weights in one super-block with a 6- or 4-bit scale
// (and for some a min) per sub-block of 16 or 32 weights. Layouts and
// formulas are ggml-common.h's block_qN_K and ggml-quants.c's
// dequantize_row_qN_K; each function decodes one super-block. Q4_K and
// Q5_K, whose sub-blocks of 32 are affine groups (w = (d·sc)·q − dmin·m),
// decode through unpackQ4K / unpackQ5K in repack.go, which re-packing uses.

// lowBits returns the 2 low bits of element e (0..255) of a Q2_K / Q3_K
// super-block: per 128 elements, 32 bytes hold four 2-bit planes, and each
// plane's 32 elements are the bytes in order.
func lowBits(qs []byte, e int) int {
	half, j, l := e/128, (e%128)/32, e%32
	return int(qs[32*half+l]>>(2*j)) & 3
}

// block_q2_K: scales[16] (4-bit scale | 4-bit min per 16), qs[64], d, dmin.
// w = d·scale·q − dmin·min.
func dequantQ2K(dst []float32, src []byte) {
	scales, qs := src[:16], src[16:80]
	d, dmin := f16(src[80:]), f16(src[82:])
	for g := range 16 {
		dl := d * float32(scales[g]&0xf)
		ml := dmin * float32(scales[g]>>4)
		for e := 16 * g; e < 16*(g+1); e++ {
			dst[e] = float32(dl*float32(lowBits(qs, e))) - ml
		}
	}
}

// q3Scales unpacks Q3_K's 16 6-bit scales: low nibbles in bytes 0..7
// (scales 0..7 low, 8..15 high), the two high bits in bytes 8..11.
func q3Scales(b []byte) [16]int {
	var s [16]int
	for i := range 16 {
		low := b[i%8] >> (4 * (i / 8)) & 0xf
		high := b[8+i%4] >> (2 * (i / 4)) & 3
		s[i] = int(low|high<<4) - 32
	}
	return s
}

// block_q3_K: hmask[32], qs[64], scales[12], d. q is 3-bit signed: the low
// 2 bits from qs, minus 4 where the element's hmask bit is clear.
// w = d·scale·q.
func dequantQ3K(dst []float32, src []byte) {
	hmask, qs := src[:32], src[32:96]
	scales := q3Scales(src[96:108])
	d := f16(src[108:])
	for g := range 16 {
		dl := d * float32(scales[g])
		for e := 16 * g; e < 16*(g+1); e++ {
			q := lowBits(qs, e)
			if hmask[e%32]>>(e/32)&1 == 0 {
				q -= 4
			}
			dst[e] = dl * float32(q)
		}
	}
}

// scaleMinK4 is ggml's get_scale_min_k4: the 6-bit scale and min of
// sub-block j (0..7) from the 12 packed bytes of a Q4_K / Q5_K block.
func scaleMinK4(q []byte, j int) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// kNibble returns the 4 low bits of element e of a Q4_K / Q5_K block: per
// 64 elements, 32 bytes hold the first 32 in low and the next 32 in high
// nibbles.
func kNibble(qs []byte, e int) int {
	chunk, hi, l := e/64, (e%64)/32, e%32
	return int(qs[32*chunk+l]>>(4*hi)) & 0xf
}

// block_q6_K: ql[128], qh[64], scales[16] (int8), d. Per 128 elements, the
// low nibbles come from 64 ql bytes (elements 0..31 and 32..63 in low,
// 64..95 and 96..127 in high nibbles) and the 2 high bits from 32 qh bytes
// (four 2-bit planes). w = d·scale·(q − 32).
func dequantQ6K(dst []float32, src []byte) {
	ql, qh, scales := src[:128], src[128:192], src[192:208]
	d := f16(src[208:])
	for e := range qk {
		half, r := e/128, e%128
		plane, l := r/32, r%32
		low := ql[64*half+32*(plane%2)+l] >> (4 * (plane / 2)) & 0xf
		high := qh[32*half+l] >> (2 * plane) & 3
		q := int(low|high<<4) - 32
		dst[e] = float32(d*float32(int8(scales[e/16]))) * float32(q)
	}
}
