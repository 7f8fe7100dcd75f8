package metal

import (
	"fmt"
	"math"
	"testing"
)

// TestQuantizeRoundTripWithinHalfStep checks affine quantization against its
// definition: each group's codes q in [0, 2^bits-1] give q*scale + bias, so a
// weight inside that grid comes back within scale/2, and one outside it (MLX
// puts the larger-magnitude extreme exactly on the grid, which can leave the
// other extreme slightly outside) comes back as the nearest grid end.
func TestQuantizeRoundTripWithinHalfStep(t *testing.T) {
	const rows, cols = 4, 256
	w := lcg(rows*cols, 11)
	for _, bits := range []int{2, 3, 4, 5, 6, 8} {
		for _, gs := range []int{32, 64, 128} {
			t.Run(fmt.Sprintf("bits%d_group%d", bits, gs), func(t *testing.T) {
				do(t, func() error {
					wq, scales, biases := Quantize(FromFloat32(w, rows, cols), gs, bits, ModeAffine)
					if biases == nil {
						return fmt.Errorf("affine quantization returned no biases")
					}
					if got := wq.Shape(); got[1] != cols*bits/32 || wq.Dtype() != Uint32 {
						return fmt.Errorf("packed weights %v %v, want [%d %d] uint32", got, wq.Dtype(), rows, cols*bits/32)
					}
					deq := floats(t, Dequantize(wq, scales, biases, gs, bits, ModeAffine))
					return checkAffine(w, deq, floats(t, scales), floats(t, biases), cols/gs, gs, bits)
				})
			})
		}
	}
}

func checkAffine(w, deq, scales, biases []float32, groupsPerRow, gs, bits int) error {
	if len(deq) != len(w) {
		return fmt.Errorf("dequantized %d values, want %d", len(deq), len(w))
	}
	top := float64(int(1)<<bits - 1)
	for i, v := range w {
		g := (i/(groupsPerRow*gs))*groupsPerRow + (i%(groupsPerRow*gs))/gs
		s, b := float64(scales[g]), float64(biases[g])
		lo, hi := math.Min(b, b+top*s), math.Max(b, b+top*s)
		x, got := float64(v), float64(deq[i])
		if math.IsNaN(got) || math.IsInf(got, 0) {
			return fmt.Errorf("w[%d]=%v came back %v", i, v, got)
		}
		tol := 1e-5 * (1 + math.Abs(x))
		switch {
		case x >= lo && x <= hi && math.Abs(got-x) > math.Abs(s)/2+tol:
			return fmt.Errorf("w[%d]=%v came back %v: error %g > scale/2 = %g", i, v, got, math.Abs(got-x), math.Abs(s)/2)
		case x < lo && math.Abs(got-lo) > tol, x > hi && math.Abs(got-hi) > tol:
			return fmt.Errorf("w[%d]=%v outside the grid [%g, %g] came back %v, not the grid end", i, v, lo, hi, got)
		}
	}
	return nil
}

func TestQuantizedMatmulMatchesDequantized(t *testing.T) {
	cases := []struct {
		transpose  bool
		bits, gs   int
		wRows, wCo int
	}{
		{true, 4, 64, 48, 256}, {true, 8, 32, 48, 256}, {true, 3, 128, 32, 256}, {false, 4, 32, 256, 64},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("transpose=%v bits%d group%d", c.transpose, c.bits, c.gs), func(t *testing.T) {
			do(t, func() error {
				x := FromFloat32(lcg(3*256, 12), 3, 256)
				wq, s, b := Quantize(FromFloat32(lcg(c.wRows*c.wCo, 13), c.wRows, c.wCo), c.gs, c.bits, ModeAffine)
				deq := Dequantize(wq, s, b, c.gs, c.bits, ModeAffine)
				if c.transpose {
					deq = Transpose(deq)
				}
				want := f64s(floats(t, Matmul(x, deq)))
				got := floats(t, QuantizedMatmul(x, wq, s, b, c.transpose, c.gs, c.bits, ModeAffine))
				assertClose(t, "qmm", got, want, max(1e-4, matTol()))
				return nil
			})
		})
	}
}

func TestGatherQMMMatchesPerRow(t *testing.T) {
	const experts, n, k, tokens, gs, bits = 4, 32, 128, 6, 64, 4
	experts32 := []int32{3, 0, 0, 2, 3, 1}
	for _, sorted := range []bool{false, true} {
		t.Run(fmt.Sprintf("sorted=%v", sorted), func(t *testing.T) {
			idx := experts32
			if sorted {
				idx = []int32{0, 0, 1, 2, 3, 3}
			}
			do(t, func() error {
				x := FromFloat32(lcg(tokens*k, 14), tokens, 1, k)
				w := FromFloat32(lcg(experts*n*k, 15), experts, n, k)
				wq, s, b := Quantize(w, gs, bits, ModeAffine)
				rhs := FromInt32(idx, tokens)
				got := floats(t, GatherQMM(x, wq, s, b, nil, rhs, true, gs, bits, ModeAffine, sorted))
				gotMM := floats(t, GatherMM(x, Transpose(w, 0, 2, 1), nil, rhs, sorted))
				var want, wantMM []float64
				for i, e := range idx {
					xi := Take(x, Scalar(float64(i), Int32), 0)
					ei := Scalar(float64(e), Int32)
					row := QuantizedMatmul(xi, Take(wq, ei, 0), Take(s, ei, 0), Take(b, ei, 0), true, gs, bits, ModeAffine)
					want = append(want, f64s(floats(t, row))...)
					wantMM = append(wantMM, f64s(floats(t, Matmul(xi, Transpose(Take(w, ei, 0)))))...)
				}
				assertClose(t, "gather_qmm", got, want, max(1e-4, matTol()))
				assertClose(t, "gather_mm", gotMM, wantMM, max(1e-4, matTol()))
				return nil
			})
		})
	}
}

func TestQuantizeMXFP4HasNoBiases(t *testing.T) {
	do(t, func() error {
		w := lcg(2*64, 16)
		wq, s, b := Quantize(FromFloat32(w, 2, 64), 32, 4, ModeMXFP4)
		if b != nil {
			return fmt.Errorf("mxfp4 returned biases")
		}
		deq := floats(t, Dequantize(wq, s, nil, 32, 4, ModeMXFP4))
		var num, den float64
		for i := range w {
			num += math.Pow(float64(deq[i]-w[i]), 2)
			den += float64(w[i]) * float64(w[i])
		}
		// e2m1 keeps about one significant bit: the relative error stays well under 1.
		if rel := math.Sqrt(num / den); rel > 0.25 {
			return fmt.Errorf("mxfp4 round trip relative error %.3f", rel)
		}
		return nil
	})
}
