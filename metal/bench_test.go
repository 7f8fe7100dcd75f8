package metal

import (
	"context"
	"testing"
)

// BenchmarkDo measures one round trip to the MLX thread.
func BenchmarkDo(b *testing.B) {
	requireMLX(b)
	for b.Loop() {
		if err := Do(context.Background(), func() error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpCreateFree measures building one graph op and freeing it: the
// per-call FFI cost the engine pays thousands of times per step.
func BenchmarkOpCreateFree(b *testing.B) {
	requireMLX(b)
	err := Do(context.Background(), func() error {
		x, y := Ones([]int{1, 64}, Float32), Ones([]int{1, 64}, Float32)
		for b.Loop() {
			Add(x, y).Free()
		}
		return Err()
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkChain30 builds 30 elementwise ops on [1,64], evaluates them and
// frees them in bulk (one Scope); ns/op is per chain, "ns/elemop" per op.
func BenchmarkChain30(b *testing.B) {
	requireMLX(b)
	err := Do(context.Background(), func() error {
		x := Full([]int{1, 64}, 0.5, Float32)
		for b.Loop() {
			Scope(func() {
				y := x
				for i := range 30 {
					if i%2 == 0 {
						y = Mul(y, x)
					} else {
						y = Add(y, x)
					}
				}
				if err := Eval(y); err != nil {
					b.Error(err)
				}
			})
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/30, "ns/elemop")
		return Err()
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkMatVec1024 is a 1024x1024 float32 matrix-vector product.
func BenchmarkMatVec1024(b *testing.B) {
	requireMLX(b)
	err := Do(context.Background(), func() error {
		w := Full([]int{1024, 1024}, 0.001, Float32)
		v := Full([]int{1024, 1}, 1, Float32)
		if err := Eval(w, v); err != nil {
			return err
		}
		for b.Loop() {
			Scope(func() {
				if err := Eval(Matmul(w, v)); err != nil {
					b.Error(err)
				}
			})
		}
		return Err()
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkOpInScope builds ops as the engine does, freeing them in bulk
// when the scope ends (no evaluation); ns/op is per op.
func BenchmarkOpInScope(b *testing.B) {
	requireMLX(b)
	err := Do(context.Background(), func() error {
		x, y := Ones([]int{1, 64}, Float32), Ones([]int{1, 64}, Float32)
		b.ResetTimer()
		for i := 0; i < b.N; i += 64 {
			Scope(func() {
				for range 64 {
					Add(x, y)
				}
			})
		}
		return Err()
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSwiGLU builds and evaluates silu(gate)·x on [1, 1024] fused
// (one kernel) and with compilation off (three), as a decode step's MLP does.
func BenchmarkSwiGLU(b *testing.B) {
	requireMLX(b)
	for _, compiled := range []bool{true, false} {
		b.Run(map[bool]string{true: "compiled", false: "uncompiled"}[compiled], func(b *testing.B) {
			err := Do(context.Background(), func() error {
				defer SetCompile(compileByEnv())
				if err := SetCompile(compiled); err != nil {
					return err
				}
				g, x := Full([]int{1, 1024}, 0.5, Float32), Full([]int{1, 1024}, 2, Float32)
				for b.Loop() {
					Scope(func() {
						if err := Eval(SwiGLU(g, x)); err != nil {
							b.Error(err)
						}
					})
				}
				return Err()
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
