package metal

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// gatedDeltaStepOps is the recurrence step as separate MLX ops, the port of
// mlx_lm's _gated_delta_step_ops that engine/arch ran before the shim's
// compiled step: the reference the compiled step must reproduce.
func gatedDeltaStepOps(q, k, v, g, beta, state, mask *Array) (*Array, *Array) {
	old := state
	decay := ExpandDims(g, -2) // g [B, H, Dk]: [B, H, 1, Dk]
	if g.Ndim() == 2 {
		decay = ExpandDims(ExpandDims(g, -1), -1)
	}
	state = Mul(state, decay)
	kr := ExpandDims(k, -2) // [B, H, 1, Dk]
	kvMem := Sum(Mul(state, kr), []int{-1}, false)
	delta := Mul(Sub(v, kvMem), ExpandDims(beta, -1)) // [B, H, Dv]
	state = Add(state, Mul(kr, ExpandDims(delta, -1)))
	y := Sum(Mul(state, ExpandDims(q, -2)), []int{-1}, false)
	if mask != nil {
		state = Where(Reshape(mask, mask.Dim(0), 1, 1, 1), state, old)
	}
	return Astype(y, q.Dtype()), state
}

// gatedDeltaStep64 is the step in float64 straight from the formula
// (S ← S·g; δ = (v − S·k)·β; S ← S + δ ⊗ k; y = S·q), on flat row-major
// data: an independent check of both MLX paths. gk is 1 for a [B, H] decay,
// dk for [B, H, Dk].
func gatedDeltaStep64(q, k, v, g, beta, s []float32, keep []bool, b, h, dk, dv, gk int) (y, out []float64) {
	y = make([]float64, b*h*dv)
	out = make([]float64, len(s))
	for n := range b * h {
		for i := range dv {
			row := make([]float64, dk)
			var kv float64
			for j := range dk {
				row[j] = float64(s[(n*dv+i)*dk+j]) * float64(g[n*gk+j%gk])
				kv += row[j] * float64(k[n*dk+j])
			}
			delta := (float64(v[n*dv+i]) - kv) * float64(beta[n])
			var acc float64
			for j := range dk {
				row[j] += float64(k[n*dk+j]) * delta
				acc += row[j] * float64(q[n*dk+j])
				out[(n*dv+i)*dk+j] = row[j]
				if keep != nil && !keep[n/h] {
					out[(n*dv+i)*dk+j] = float64(s[(n*dv+i)*dk+j])
				}
			}
			y[n*dv+i] = acc
		}
	}
	return y, out
}

// within1BF16 reports the first element of got farther from want than one
// bfloat16 rounding step (an ulp at want's magnitude), or -1.
func within1BF16(got, want []float32) int {
	if len(got) != len(want) {
		return 0
	}
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) || math.IsNaN(w) || math.IsInf(w, 0) {
			return i
		}
		ulp := math.Ldexp(1, math.Ilogb(math.Max(math.Abs(w), 0x1p-126))-7)
		if math.Abs(g-w) > ulp {
			return i
		}
	}
	return -1
}

func rel64(got []float32, want []float64) float64 {
	w := make([]float32, len(want))
	for i, v := range want {
		w[i] = float32(v)
	}
	return testutil.RelErr(got, w)
}

// TestGatedDeltaStep checks the shim's compiled recurrence step against the
// same step as separate ops and against a float64 evaluation of the
// formula: float32 and bfloat16 q/k/v, scalar and per-channel decay, with
// and without a padding mask, over shapes up to Qwen3.5's Dk = Dv = 128.
// Three steps run in a row so the state carries real history. With
// compilation off the shim's step is the same ops unfused, and must agree
// as well.
func TestGatedDeltaStep(t *testing.T) {
	shapes := []struct{ b, h, dk, dv int }{{1, 2, 8, 4}, {2, 3, 16, 24}, {2, 4, 128, 128}}
	for _, sh := range shapes {
		for _, dt := range []Dtype{Float32, BFloat16} {
			for _, vecG := range []bool{false, true} {
				for _, masked := range []bool{false, true} {
					for _, compiled := range []bool{true, false} {
						name := fmt.Sprintf("B%dH%dDk%dDv%d/%v/vecg=%v/mask=%v/compiled=%v", sh.b, sh.h, sh.dk, sh.dv, dt, vecG, masked, compiled)
						t.Run(name, func(t *testing.T) {
							do(t, func() error {
								checkGatedDeltaStep(t, sh.b, sh.h, sh.dk, sh.dv, dt, vecG, masked, compiled)
								return nil
							})
						})
					}
				}
			}
		}
	}
}

func checkGatedDeltaStep(t *testing.T, b, h, dk, dv int, dt Dtype, vecG, masked, compiled bool) {
	t.Helper()
	defer SetCompile(compileByEnv())
	if err := SetCompile(compiled); err != nil {
		t.Errorf("SetCompile: %v", err)
		return
	}
	gk := 1
	if vecG {
		gk = dk
	}
	seed := uint64(b*1000 + h*100 + dk + dv)
	unit := func(n int, s uint64, lo, hi float32) []float32 {
		x := lcg(n, s)
		for i := range x {
			x[i] = lo + (hi-lo)*(x[i]+1)/2
		}
		return x
	}
	state := FromFloat32(lcg(b*h*dv*dk, seed), b, h, dv, dk)
	stOps := state
	var keep []bool
	var mask *Array
	if masked {
		keep = make([]bool, b)
		ints := make([]int32, b)
		for i := range keep {
			keep[i] = i%2 == 0 // the second sequence of a batch is padded
			if keep[i] {
				ints[i] = 1
			}
		}
		mask = NotEqual(FromInt32(ints, b), Scalar(0, Int32))
	}
	for step := range 3 {
		s := seed + uint64(step)*17
		qd, kd, vd := lcg(b*h*dk, s+1), lcg(b*h*dk, s+2), lcg(b*h*dv, s+3)
		gd, bd := unit(b*h*gk, s+4, 0.3, 1), unit(b*h, s+5, 0, 1)
		q, k, v := Astype(FromFloat32(qd, b, h, dk), dt), Astype(FromFloat32(kd, b, h, dk), dt), Astype(FromFloat32(vd, b, h, dv), dt)
		gShape := []int{b, h}
		if vecG {
			gShape = append(gShape, dk)
		}
		g := FromFloat32(gd, gShape...)
		beta := Astype(FromFloat32(bd, b, h), dt)

		prev := floats(t, state)
		y, next := GatedDeltaStep(q, k, v, g, beta, state, mask)
		yOps, nextOps := gatedDeltaStepOps(q, k, v, g, beta, stOps, mask)
		if y.Dtype() != dt || next.Dtype() != Float32 {
			t.Errorf("step %d: y %v, state %v; want %v, float32", step, y.Dtype(), next.Dtype(), dt)
		}
		gotY, wantY := floats(t, Astype(y, Float32)), floats(t, Astype(yOps, Float32))
		gotS, wantS := floats(t, next), floats(t, nextOps)
		if e := testutil.RelErr(gotS, wantS); e > 1e-6 {
			t.Errorf("step %d: state rel err %g vs ops, want ≤ 1e-6", step, e)
		}
		if dt == Float32 {
			if e := testutil.RelErr(gotY, wantY); e > 1e-6 {
				t.Errorf("step %d: y rel err %g vs ops, want ≤ 1e-6", step, e)
			}
			// The same inputs in float64: both MLX paths are the formula.
			y64, s64 := gatedDeltaStep64(qd, kd, vd, gd, bd, prev, keep, b, h, dk, dv, gk)
			if e := rel64(gotY, y64); e > 1e-5 {
				t.Errorf("step %d: y rel err %g vs float64 formula", step, e)
			}
			if e := rel64(gotS, s64); e > 1e-5 {
				t.Errorf("step %d: state rel err %g vs float64 formula", step, e)
			}
		} else if i := within1BF16(gotY, wantY); i >= 0 {
			t.Errorf("step %d: y[%d] = %v, ops %v: more than one bfloat16 rounding apart", step, i, at(gotY, i), at(wantY, i))
		}
		if masked {
			checkPadded(t, step, gotS, prev, keep, h*dv*dk)
		}
		state, stOps = next, nextOps
	}
}

// checkPadded checks that a masked-off sequence kept its state bit for bit.
func checkPadded(t *testing.T, step int, got, prev []float32, keep []bool, per int) {
	t.Helper()
	for bi, k := range keep {
		if k {
			continue
		}
		for j := bi * per; j < (bi+1)*per && j < len(got) && j < len(prev); j++ {
			if got[j] != prev[j] {
				t.Errorf("step %d: padded sequence %d changed its state at %d", step, bi, j)
				return
			}
		}
	}
}

func at(x []float32, i int) float32 {
	if i < len(x) {
		return x[i]
	}
	return float32(math.NaN())
}

// TestGatedDeltaStepBadShapes checks that mismatched inputs come back as an
// error naming the input, not a crash.
func TestGatedDeltaStepBadShapes(t *testing.T) {
	requireMLX(t)
	err := Do(context.Background(), func() error {
		q := Zeros([]int{1, 2, 8}, Float32)
		v := Zeros([]int{1, 2, 4}, Float32)
		g, beta := Zeros([]int{1, 2}, Float32), Zeros([]int{1, 2}, Float32)
		GatedDeltaStep(q, q, v, g, beta, Zeros([]int{1, 2, 8, 4}, Float32), nil) // state transposed
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "state must be [B, H, Dv, Dk]") {
		t.Errorf("transposed state: error %v, want one naming the state's shape", err)
	}
}
