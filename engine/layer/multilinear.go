package layer

import "github.com/lmx-app/lmx/metal"

// MultiLinear is one linear map per head (mlx-lm's mla.MultiLinear /
// QuantizedMultiLinear): a [heads, out, in] weight, dense or MLX-quantized
// along its last axis.
type MultiLinear struct {
	Weight *metal.Array
	q      *quantized
}

// NewMultiLinear takes prefix.weight of shape [heads, out, in] (or its
// quantized form).
func NewMultiLinear(w *Weights, prefix string, in, out, heads int) *MultiLinear {
	m := &MultiLinear{}
	m.Weight, m.q = takeQuantized(w, prefix, []int{heads, out}, in)
	if m.q == nil {
		m.Weight = w.Tensor(prefix+".weight", heads, out, in)
	}
	return m
}

// Forward computes x·Wᵀ per head (transpose; x [..., heads, L, in]) or x·W
// (x [..., heads or 1, L, out]).
func (m *MultiLinear) Forward(x *metal.Array, transpose bool) *metal.Array {
	if m.q != nil {
		return metal.QuantizedMatmul(x, m.Weight, m.q.scales, m.q.biases, transpose, m.q.groupSize, m.q.bits, m.q.mode)
	}
	if transpose {
		return metal.Matmul(x, metal.Swapaxes(m.Weight, -1, -2))
	}
	return metal.Matmul(x, m.Weight)
}
