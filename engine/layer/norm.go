package layer

import (
	"math"

	"github.com/lmx-app/lmx/metal"
)

// RMSNorm is mlx's fast RMS norm with a learned scale.
type RMSNorm struct {
	Weight *metal.Array
	Eps    float64
}

// NewRMSNorm takes prefix.weight of shape [dim].
func NewRMSNorm(w *Weights, prefix string, dim int, eps float64) *RMSNorm {
	return &RMSNorm{Weight: w.Tensor(prefix+".weight", dim), Eps: eps}
}

// NewOffsetRMSNorm is Gemma's RMSNorm that scales by (1 + weight); the sum
// is formed once at load time (the caller keeps the new array via Owned).
func NewOffsetRMSNorm(w *Weights, prefix string, dim int, eps float64) *RMSNorm {
	weight := w.Tensor(prefix+".weight", dim)
	if weight == nil {
		return &RMSNorm{Eps: eps}
	}
	return &RMSNorm{Weight: metal.AddScalar(weight, 1), Eps: eps}
}

// Forward normalizes the last axis of x.
func (n *RMSNorm) Forward(x *metal.Array) *metal.Array {
	return metal.RMSNorm(x, n.Weight, n.Eps)
}

// SiLU is x·σ(x).
func SiLU(x *metal.Array) *metal.Array {
	return metal.Mul(x, metal.Sigmoid(x))
}

// SwiGLU is silu(gate)·x, the gated feed-forward activation.
func SwiGLU(gate, x *metal.Array) *metal.Array {
	return metal.Mul(SiLU(gate), x)
}

// GeluApprox is the tanh approximation of GELU (mlx nn.gelu_approx,
// transformers "gelu_pytorch_tanh"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
func GeluApprox(x *metal.Array) *metal.Array {
	cube := metal.Mul(x, metal.Square(x))
	inner := metal.MulScalar(metal.Add(x, metal.MulScalar(cube, 0.044715)), math.Sqrt(2/math.Pi))
	return metal.Mul(metal.MulScalar(x, 0.5), metal.AddScalar(metal.Tanh(inner), 1))
}
