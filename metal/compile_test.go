package metal

import (
	"math"
	"testing"
)

// gluRef applies act(gate)·x in float64.
func gluRef(gate, x []float32, act func(float64) float64) []float64 {
	out := make([]float64, len(x))
	for i := range x {
		out[i] = act(float64(gate[i])) * float64(x[i])
	}
	return out
}

func siluRef(v float64) float64 { return v / (1 + math.Exp(-v)) }

func geluTanhRef(v float64) float64 {
	return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
}

// TestFusedActivations checks the compiled activations against their
// formulas, fused and with compilation off, and that they keep the input
// dtype (constants must not promote half precision to float32).
func TestFusedActivations(t *testing.T) {
	const n = 4 * 96
	gate, x := lcg(n, 21), lcg(n, 22)
	for i := range gate {
		gate[i] *= 6 // reach the saturated ends of σ and tanh
	}
	cases := []struct {
		name string
		fn   func(gate, x *Array) *Array
		ref  func(float64) float64
	}{
		{"swiglu", SwiGLU, siluRef},
		{"geglu", GeGLU, geluTanhRef},
	}
	for _, compiled := range []bool{true, false} {
		for _, c := range cases {
			want := gluRef(gate, x, c.ref)
			t.Run(c.name+map[bool]string{true: "/compiled", false: "/uncompiled"}[compiled], func(t *testing.T) {
				do(t, func() error {
					defer SetCompile(compileByEnv())
					if err := SetCompile(compiled); err != nil {
						return err
					}
					G, X := FromFloat32(gate, 4, 96), FromFloat32(x, 4, 96)
					assertClose(t, c.name, floats(t, c.fn(G, X)), want, 1e-5)
					half := c.fn(Astype(G, Float16), Astype(X, Float16))
					if half.Dtype() != Float16 {
						t.Errorf("%s of float16 is %v", c.name, half.Dtype())
					}
					assertClose(t, c.name+" float16", floats(t, half), want, 1e-2)
					return nil
				})
			})
		}
	}
}

// TestFusedActivationInvalidInput keeps the sticky-error contract: an
// invalid argument yields an invalid array without calling MLX.
func TestFusedActivationInvalidInput(t *testing.T) {
	requireMLX(t)
	err := Do(t.Context(), func() error {
		if SwiGLU(&Array{}, Ones([]int{2}, Float32)).Valid() {
			t.Error("SwiGLU of an invalid array is valid")
		}
		return nil
	})
	if err == nil {
		t.Error("Do returned no error after an invalid argument")
	}
}
