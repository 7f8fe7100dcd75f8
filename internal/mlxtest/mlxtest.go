// Package mlxtest is the test side of the MLX runtime for the engine's
// packages: load it or skip with the reason, and run work on the MLX thread.
package mlxtest

import (
	"context"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// Require loads the MLX runtime, or skips the test with the reason (fails
// under LMX_REQUIRE_MLX=1, as CI runs it).
func Require(t testing.TB) {
	t.Helper()
	if err := metal.Load(""); err != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_MLX", "MLX runtime absent (run build/mlx.sh): "+err.Error())
	}
}

// Do runs fn on the MLX thread after Require, failing the test on error.
// fn must not call t.Fatal (it would end the MLX thread's goroutine).
func Do(t testing.TB, fn func() error) {
	t.Helper()
	Require(t)
	if err := metal.Do(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// JoinRing joins the ring group this test process was started in as a rank
// (internal/disttest), failing the test when it cannot.
func JoinRing(t testing.TB) *metal.Group {
	t.Helper()
	var g *metal.Group
	Do(t, func() error {
		var err error
		g, err = metal.DistInit("ring")
		return err
	})
	return g
}
