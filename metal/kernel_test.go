package metal

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// axpbSpec is a tiny CUDA kernel, out = a·x + b over n elements (n a
// template argument, so a grid rounded up to whole blocks stays in bounds).
var axpbSpec = KernelSpec{
	Name:    "axpb",
	Inputs:  []string{"x", "a", "b"},
	Outputs: []string{"out"},
	Source: `
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    out[i] = a[0] * x[i] + b[0];
  }
`,
}

// cudaBuild reports whether the loaded MLX runs on CUDA (a GPU on Linux).
func cudaBuild() bool { return runtime.GOOS == "linux" && GPUAvailable() }

// TestCustomKernelsWithoutBackend checks that a kernel for a backend this
// MLX lacks fails with MLX's own error, when built (CUDA) or when called
// (Metal's builder only records the source; on MLX's CUDA build it returns
// no kernel, ErrNoKernel), and that the runtime keeps working after it.
func TestCustomKernelsWithoutBackend(t *testing.T) {
	requireMLX(t)
	for _, tc := range []struct {
		name    string
		absent  bool
		build   func(KernelSpec) (*Kernel, error)
		message string
	}{
		{"cuda", !cudaBuild(), NewCUDAKernel, "No CUDA back-end"},
		{"metal", runtime.GOOS != "darwin", NewMetalKernel, "No Metal back-end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.absent {
				t.Skipf("MLX here has the %s backend", tc.name)
			}
			err := Do(context.Background(), func() error {
				k, err := tc.build(axpbSpec)
				if err != nil {
					return err
				}
				defer k.Free()
				out := k.Call(KernelCall{
					Inputs:       []*Array{FromFloat32([]float32{1, 2}, 2), FromFloat32([]float32{2}, 1), FromFloat32([]float32{1}, 1)},
					OutputShapes: [][]int{{2}}, OutputDtypes: []Dtype{Float32},
					Grid: [3]int{2, 1, 1}, Threadgroup: [3]int{32, 1, 1},
					Template: []TemplateArg{{Name: "n", Value: 2}},
				})
				_, err = out[0].Float32s()
				return err
			})
			t.Logf("error: %v", err)
			if tc.name == "metal" && cudaBuild() && errors.Is(err, ErrNoKernel) {
				// MLX's CUDA build answers metal_kernel with no kernel.
			} else if !errors.Is(err, ErrMLX) || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("kernel without its backend: error %v, want MLX's %q", err, tc.message)
			}
			do(t, func() error {
				got := floats(t, AddScalar(FromFloat32([]float32{1, 2}, 2), 1))
				assertClose(t, "op after the failed kernel", got, []float64{2, 3}, 0)
				return nil
			})
		})
	}
}

// TestFreedKernelCall checks that calling a freed (or zero) kernel fails
// with ErrKernelFreed instead of reaching the shim.
func TestFreedKernelCall(t *testing.T) {
	requireMLX(t)
	err := Do(context.Background(), func() error {
		k := &Kernel{name: "gone"}
		k.Free() // a no-op, like a second Free
		out := k.Call(KernelCall{OutputShapes: [][]int{{2}}, OutputDtypes: []Dtype{Float32}})
		if len(out) != 1 || out[0].Valid() {
			t.Errorf("outputs %v: want one invalid array", out)
		}
		return nil
	})
	if !errors.Is(err, ErrKernelFreed) {
		t.Fatalf("Do after calling a freed kernel = %v, want ErrKernelFreed", err)
	}
}

// TestCUDAKernelAxpb runs axpbSpec on the GPU against the same arithmetic
// in Go, over a length that is no multiple of the block, then checks that
// a bad template argument fails the call with a clear error. It needs MLX's
// CUDA build (go test -c, then run the binary on the GPU machine).
func TestCUDAKernelAxpb(t *testing.T) {
	requireMLX(t)
	if !cudaBuild() {
		t.Skip("needs MLX's CUDA backend and an NVIDIA GPU")
	}
	const n = 1000
	x := lcg(n, 7)
	want := make([]float64, n)
	for i, v := range x {
		want[i] = float64(float32(1.5)*v + float32(-0.25))
	}
	call := func(template []TemplateArg) ([]float32, error) {
		var got []float32
		err := Do(context.Background(), func() error {
			k, err := NewCUDAKernel(axpbSpec)
			if err != nil {
				return err
			}
			defer k.Free()
			out := k.Call(KernelCall{
				Inputs:       []*Array{FromFloat32(x, n), FromFloat32([]float32{1.5}, 1), FromFloat32([]float32{-0.25}, 1)},
				OutputShapes: [][]int{{n}}, OutputDtypes: []Dtype{Float32},
				Grid: [3]int{n, 1, 1}, Threadgroup: [3]int{256, 1, 1},
				Template: template,
			})
			got, err = out[0].Float32s()
			return err
		})
		return got, err
	}
	got, err := call([]TemplateArg{{Name: "n", Value: n}})
	if err != nil {
		t.Fatal(err)
	}
	assertClose(t, "axpb", got, want, 1e-6)
	if _, err := call([]TemplateArg{{Name: "n", Value: "1000"}}); err == nil || !strings.Contains(err.Error(), "template argument n") {
		t.Errorf("call with a string template argument: error %v, want one naming the argument", err)
	}
}
