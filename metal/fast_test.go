package metal

import (
	"math"
	"testing"
)

func TestRMSNormAndLayerNorm(t *testing.T) {
	const rows, d, eps = 3, 8, 1e-5
	x, w, b := lcg(rows*d, 6), lcg(d, 7), lcg(d, 8)
	rms, rmsNoW, ln, lnNoWB := make([]float64, 0, rows*d), make([]float64, 0, rows*d), make([]float64, 0, rows*d), make([]float64, 0, rows*d)
	for r := range rows {
		row := f64s(x[r*d : r*d+d])
		var ss, mean, vr float64
		for _, v := range row {
			ss += v * v
			mean += v
		}
		mean /= d
		for _, v := range row {
			vr += (v - mean) * (v - mean)
		}
		inv := 1 / math.Sqrt(ss/d+eps)
		invStd := 1 / math.Sqrt(vr/d+eps)
		for i, v := range row {
			rms = append(rms, v*inv*float64(w[i]))
			rmsNoW = append(rmsNoW, v*inv)
			ln = append(ln, (v-mean)*invStd*float64(w[i])+float64(b[i]))
			lnNoWB = append(lnNoWB, (v-mean)*invStd)
		}
	}
	do(t, func() error {
		X, W, B := FromFloat32(x, rows, d), FromFloat32(w, d), FromFloat32(b, d)
		assertClose(t, "rms_norm", floats(t, RMSNorm(X, W, eps)), rms, 1e-5)
		assertClose(t, "rms_norm without weight", floats(t, RMSNorm(X, nil, eps)), rmsNoW, 1e-5)
		assertClose(t, "layer_norm", floats(t, LayerNorm(X, W, B, eps)), ln, 1e-5)
		assertClose(t, "layer_norm without affine", floats(t, LayerNorm(X, nil, nil, eps)), lnNoWB, 1e-5)
		return nil
	})
}

// ropeRef rotates x [B, H, L, D] with MLX's conventions: position
// offsets[b]+l scaled by scale, inverse frequencies invFreq (dims/2 of them),
// pairs (2i, 2i+1) when traditional, else (i, i+dims/2); features past dims
// unchanged.
func ropeRef(x []float32, B, H, L, D, dims int, traditional bool, scale float64, offsets []int, invFreq []float64) []float64 {
	out := f64s(x)
	half := dims / 2
	for b := range B {
		for h := range H {
			for l := range L {
				row := out[((b*H+h)*L+l)*D:][:D]
				pos := float64(offsets[b]+l) * scale
				for i := range half {
					i1, i2 := i, i+half
					if traditional {
						i1, i2 = 2*i, 2*i+1
					}
					s, c := math.Sincos(pos * invFreq[i])
					x1, x2 := row[i1], row[i2]
					row[i1], row[i2] = x1*c-x2*s, x1*s+x2*c
				}
			}
		}
	}
	return out
}

func TestRoPE(t *testing.T) {
	const B, H, L, D, dims, base = 2, 2, 3, 8, 6, 10000.0
	x := lcg(B*H*L*D, 9)
	baseFreq := make([]float64, dims/2)
	custom := make([]float32, dims/2) // wavelengths, as mlx-lm passes them
	customInv := make([]float64, dims/2)
	for i := range baseFreq {
		baseFreq[i] = math.Pow(base, -2*float64(i)/dims)
		custom[i] = float32(3 + 5*i)
		customInv[i] = 1 / float64(custom[i])
	}
	cases := []struct {
		name        string
		traditional bool
		scale       float64
		offsets     []int
		perSeq      bool
		freqs       bool
	}{
		{"non-traditional offset 5", false, 1, []int{5, 5}, false, false},
		{"traditional offset 0", true, 1, []int{0, 0}, false, false},
		{"scaled positions", false, 0.25, []int{7, 7}, false, false},
		{"offsets array", false, 1, []int{2, 11}, true, false},
		{"traditional offsets array", true, 1, []int{4, 1}, true, false},
		{"custom freqs offset 3", false, 1, []int{3, 3}, false, true},
		{"custom freqs offsets array", false, 1, []int{1, 9}, true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv := baseFreq
			if c.freqs {
				inv = customInv
			}
			want := ropeRef(x, B, H, L, D, dims, c.traditional, c.scale, c.offsets, inv)
			do(t, func() error {
				X := FromFloat32(x, B, H, L, D)
				offs := FromInt32([]int32{int32(c.offsets[0]), int32(c.offsets[1])}, B)
				F := FromFloat32(custom, dims/2)
				var got *Array
				switch {
				case c.freqs && c.perSeq:
					got = RoPEFreqsOffsets(X, dims, c.traditional, c.scale, offs, F)
				case c.freqs:
					got = RoPEFreqs(X, dims, c.traditional, c.scale, c.offsets[0], F)
				case c.perSeq:
					got = RoPEOffsets(X, dims, c.traditional, base, c.scale, offs)
				default:
					got = RoPE(X, dims, c.traditional, base, c.scale, c.offsets[0])
				}
				assertClose(t, "rope", floats(t, got), want, 1e-4)
				return nil
			})
		})
	}
}

// sdpaRef is softmax(scale·QKᵀ + mask)·V with GQA head sharing. mask(i, j)
// returns an additive bias or -Inf.
func sdpaRef(q, k, v []float32, B, Hq, Hkv, Lq, Lk, D int, scale float64, mask func(b, h, i, j int) float64) []float64 {
	out := make([]float64, B*Hq*Lq*D)
	for b := range B {
		for h := range Hq {
			kh := h / (Hq / Hkv)
			for i := range Lq {
				qrow := q[((b*Hq+h)*Lq+i)*D:][:D]
				scores := make([]float64, Lk)
				m := math.Inf(-1)
				for j := range Lk {
					krow := k[((b*Hkv+kh)*Lk+j)*D:][:D]
					var s float64
					for d := range D {
						s += float64(qrow[d]) * float64(krow[d])
					}
					scores[j] = s*scale + mask(b, h, i, j)
					m = math.Max(m, scores[j])
				}
				var z float64
				for j := range scores {
					scores[j] = math.Exp(scores[j] - m)
					z += scores[j]
				}
				o := out[((b*Hq+h)*Lq+i)*D:][:D]
				for j := range Lk {
					vrow := v[((b*Hkv+kh)*Lk+j)*D:][:D]
					for d := range D {
						o[d] += scores[j] / z * float64(vrow[d])
					}
				}
			}
		}
	}
	return out
}

func TestSDPA(t *testing.T) {
	const B, Lq, Lk, D = 2, 3, 5, 8
	scale := 1 / math.Sqrt(D)
	boolMask := make([]byte, Lq*Lk) // true = attend; a band pattern
	addMask := make([]float32, Lq*Lk)
	for i := range Lq {
		for j := range Lk {
			if (i+j)%3 != 1 {
				boolMask[i*Lk+j] = 1
			}
			addMask[i*Lk+j] = float32(i-j) * 0.3
		}
	}
	none := func(b, h, i, j int) float64 { return 0 }
	causal := func(b, h, i, j int) float64 {
		if j > i+Lk-Lq {
			return math.Inf(-1)
		}
		return 0
	}
	band := func(b, h, i, j int) float64 {
		if boolMask[i*Lk+j] == 0 {
			return math.Inf(-1)
		}
		return 0
	}
	additive := func(b, h, i, j int) float64 { return float64(addMask[i*Lk+j]) }
	cases := []struct {
		name     string
		hq, hkv  int
		mode     string
		mask     func() *Array
		maskFunc func(b, h, i, j int) float64
	}{
		{"no mask", 2, 2, MaskNone, nil, none},
		{"causal", 2, 2, MaskCausal, nil, causal},
		{"causal GQA 4:2", 4, 2, MaskCausal, nil, causal},
		{"bool mask", 2, 2, MaskArray, func() *Array { return FromBytes(boolMask, Bool, Lq, Lk) }, band},
		{"additive mask GQA 4:1", 4, 1, MaskArray, func() *Array { return FromFloat32(addMask, Lq, Lk) }, additive},
	}
	for n, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := lcg(B*c.hq*Lq*D, uint64(20+n))
			k := lcg(B*c.hkv*Lk*D, uint64(40+n))
			v := lcg(B*c.hkv*Lk*D, uint64(60+n))
			want := sdpaRef(q, k, v, B, c.hq, c.hkv, Lq, Lk, D, scale, c.maskFunc)
			do(t, func() error {
				var m *Array
				if c.mask != nil {
					m = c.mask()
				}
				got := SDPA(FromFloat32(q, B, c.hq, Lq, D), FromFloat32(k, B, c.hkv, Lk, D),
					FromFloat32(v, B, c.hkv, Lk, D), scale, c.mode, m)
				assertClose(t, "sdpa", floats(t, got), want, 1e-4)
				return nil
			})
		})
	}
}
