package metal

import (
	"context"
	"math"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// requireMLX loads the runtime or skips (fails under LMX_REQUIRE_MLX=1).
func requireMLX(t testing.TB) {
	t.Helper()
	if err := Load(""); err != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_MLX", "MLX runtime absent (run build/mlx.sh): "+err.Error())
	}
}

// do runs fn inside Do and fails the test on an error.
func do(t testing.TB, fn func() error) {
	t.Helper()
	requireMLX(t)
	if err := Do(context.Background(), fn); err != nil {
		t.Fatalf("Do: %v", err)
	}
}

// floats reads an array back, marking the test failed on error. Like every
// helper used inside Do it never calls t.FailNow: that would end the MLX
// thread's goroutine.
func floats(t testing.TB, a *Array) []float32 {
	t.Helper()
	v, err := a.Float32s()
	if err != nil {
		t.Errorf("read back: %v", err)
	}
	return v
}

// assertClose compares element by element with absolute+relative
// tolerance, reporting the first mismatch.
func assertClose(t testing.TB, what string, got []float32, want []float64, tol float64) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return false
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*(1+math.Abs(want[i])) || math.IsNaN(float64(got[i])) {
			t.Errorf("%s[%d] = %v, want %v (tol %g)", what, i, got[i], want[i], tol)
			return false
		}
	}
	return true
}

// lcg fills n pseudo-random floats in [-1, 1) deterministically.
func lcg(n int, seed uint64) []float32 {
	out := make([]float32, n)
	s := seed*6364136223846793005 + 1442695040888963407
	for i := range out {
		s = s*6364136223846793005 + 1442695040888963407
		out[i] = float32(int64(s>>11)%(1<<20))/float32(1<<19) - 1
	}
	return out
}

// matTol is the tolerance for float32 matrix products: exact-ish on CPU;
// GPU backends may multiply float32 in TF32 (10-bit mantissa).
func matTol() float64 {
	if DefaultDevice().Type == GPU {
		return 3e-3
	}
	return 1e-5
}
