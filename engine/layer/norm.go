package layer

import "github.com/lmx-app/lmx/metal"

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
