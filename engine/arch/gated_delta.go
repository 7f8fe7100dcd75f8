// Port of mlx_lm/models/gated_delta.py: the gated delta rule recurrence of
// Gated DeltaNet linear attention (Qwen3-Next, Qwen3.5), through MLX ops
// (mlx-lm's gated_delta_ops, its reference path, correct on every backend;
// mlx-lm's Metal kernel computes the same recurrence fused).
package arch

import (
	"math"

	"github.com/lmx-app/lmx/metal"
)

// gatedDeltaG is the per-step decay exp(−exp(A_log)·softplus(a + dt_bias))
// in float32 (mlx-lm's compute_g): a [B, T, Hv], aLog and dtBias [Hv].
func gatedDeltaG(aLog, a, dtBias *metal.Array) *metal.Array {
	x := metal.Add(a, dtBias)
	return metal.Exp(metal.Mul(metal.Negative(metal.Exp(metal.Astype(aLog, metal.Float32))), softplus(x)))
}

// softplus is log(1 + eˣ), computed as max(x, 0) + log1p(e^−|x|) so that
// large inputs neither overflow nor lose precision.
func softplus(x *metal.Array) *metal.Array {
	zero := metal.Scalar(0, x.Dtype())
	return metal.Add(metal.Maximum(x, zero), metal.Log1p(metal.Exp(metal.Negative(metal.Abs(x)))))
}

// l2Normalize divides x by √(Σx² + eps) over the last axis (the l2norm of
// the reference implementations; mlx-lm's normalize_qk is the same with
// the eps folded into an RMS norm).
func l2Normalize(x *metal.Array, eps float64) *metal.Array {
	xf := metal.Astype(x, metal.Float32) // accumulate in float32, as MLX's norms do
	ss := metal.Sum(metal.Square(xf), []int{-1}, true)
	return metal.Astype(metal.Mul(xf, metal.Rsqrt(metal.AddScalar(ss, eps))), x.Dtype())
}

// normalizeQK L2-normalizes queries and keys [B, T, H, Dk] and scales the
// queries by Dk^−½ (the readout scale).
func normalizeQK(q, k *metal.Array) (*metal.Array, *metal.Array) {
	dk := q.Dim(-1)
	q = metal.MulScalar(l2Normalize(q, 1e-6), 1/math.Sqrt(float64(dk)))
	return q, l2Normalize(k, 1e-6)
}

// repeatHeads repeats each head of x [B, T, H, D] r times in a row
// (mx.repeat on the head axis): head h serves value heads h·r … h·r+r−1.
func repeatHeads(x *metal.Array, r int) *metal.Array {
	if r == 1 {
		return x
	}
	b, t, h, d := x.Dim(0), x.Dim(1), x.Dim(2), x.Dim(3)
	x = metal.BroadcastTo(metal.ExpandDims(x, 3), b, t, h, r, d)
	return metal.Reshape(x, b, t, h*r, d)
}

// gatedDeltaOps runs the recurrence step by step over T (mlx-lm's
// gated_delta_ops): for each step, with S the state [B, Hv, Dv, Dk],
//
//	S ← S·g;  δ = (v − S·k)·β;  S ← S + δ ⊗ k;  y = S·q
//
// q, k [B, T, Hk, Dk] (Hk divides Hv), v [B, T, Hv, Dv], g and beta
// [B, T, Hv], state [B, Hv, Dv, Dk] in float32 or nil (zeros); mask [B, T]
// (bool, nil: none) keeps the state unchanged at masked (padded) steps.
// Returns y [B, T, Hv, Dv] in q's dtype and the new state. Each step is
// metal.GatedDeltaStep, one MLX-compiled function in the shim as mlx-lm
// compiles _gated_delta_step_ops: a handful of fused kernels per step
// instead of a dozen launches (unfused with compilation off).
func gatedDeltaOps(q, k, v, g, beta, state, mask *metal.Array) (*metal.Array, *metal.Array) {
	b, t, hk, dk := q.Dim(0), q.Dim(1), q.Dim(2), q.Dim(3)
	hv, dv := v.Dim(2), v.Dim(3)
	if state == nil {
		state = metal.Zeros([]int{b, hv, dv, dk}, metal.Float32)
	}
	q, k = repeatHeads(q, hv/hk), repeatHeads(k, hv/hk)
	ys := make([]*metal.Array, t)
	for i := range t {
		qi, ki := step4(q, i), step4(k, i)
		vi := step4(v, i)
		gi, bi := step3(g, i), step3(beta, i)
		var mi *metal.Array
		if mask != nil {
			mi = metal.Reshape(metal.Slice(mask, []int{0, i}, []int{b, i + 1}), b)
		}
		ys[i], state = metal.GatedDeltaStep(qi, ki, vi, gi, bi, state, mi)
	}
	return metal.Stack(ys, 1), state
}

// step4 returns x[:, i] of x [B, T, H, D] as [B, H, D].
func step4(x *metal.Array, i int) *metal.Array {
	s := x.Shape()
	return metal.Reshape(metal.Slice(x, []int{0, i, 0, 0}, []int{s[0], i + 1, s[2], s[3]}), s[0], s[2], s[3])
}

// step3 returns x[:, i] of x [B, T, H] as [B, H].
func step3(x *metal.Array, i int) *metal.Array {
	s := x.Shape()
	return metal.Reshape(metal.Slice(x, []int{0, i, 0}, []int{s[0], i + 1, s[2]}), s[0], s[2])
}
