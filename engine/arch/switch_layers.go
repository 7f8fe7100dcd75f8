// Port of mlx_lm/models/switch_layers.py (SwitchGLU).
package arch

import (
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/metal"
)

// sortThreshold is the number of (token, expert) pairs from which SwitchGLU
// sorts tokens by expert first, as mlx-lm does.
const sortThreshold = 64

// SwitchGLU is a gated MLP per expert, applied to each token's selected experts.
type SwitchGLU struct {
	GateProj, UpProj, DownProj *layer.SwitchLinear
	// GLU is the gated activation act(gate)·up, fused.
	GLU func(gate, up *metal.Array) *metal.Array
}

// newSwitchGLU takes prefix.{gate,up,down}_proj.weight stacked over experts.
func newSwitchGLU(w *layer.Weights, p string, dim, hidden, experts int) *SwitchGLU {
	return &SwitchGLU{
		GateProj: layer.NewSwitchLinear(w, p+".gate_proj", dim, hidden, experts),
		UpProj:   layer.NewSwitchLinear(w, p+".up_proj", dim, hidden, experts),
		DownProj: layer.NewSwitchLinear(w, p+".down_proj", hidden, dim, experts),
		GLU:      metal.SwiGLU,
	}
}

// Forward applies experts indices [B, L, k] to x [B, L, D] → [B, L, k, D].
func (s *SwitchGLU) Forward(x, indices *metal.Array) *metal.Array {
	shape := indices.Shape()
	x = metal.ExpandDims(metal.ExpandDims(x, -2), -2)
	sorted := indices.Size() >= sortThreshold
	idx := indices
	var inv *metal.Array
	if sorted {
		x, idx, inv = gatherSort(x, indices)
	}
	up := s.UpProj.Forward(x, idx, sorted)
	gate := s.GateProj.Forward(x, idx, sorted)
	y := s.DownProj.Forward(s.GLU(gate, up), idx, sorted)
	if sorted {
		y = metal.Take(y, inv, 0)
		y = metal.Reshape(y, append(shape, y.Dim(-2), y.Dim(-1))...)
	}
	return metal.Squeeze(y, -2)
}

// gatherSort orders the (token, expert) pairs by expert so each expert's
// weights are read once; it returns the rows, their experts and the inverse order.
func gatherSort(x, indices *metal.Array) (rows, experts, inv *metal.Array) {
	k := indices.Dim(-1)
	flat := metal.Flatten(indices, 0, -1)
	order := metal.Argsort(flat, 0)
	inv = metal.Argsort(order, 0)
	tokens := metal.Astype(metal.Floor(metal.MulScalar(metal.Astype(order, metal.Float32), 1/float64(k))), metal.Int32)
	rows = metal.Take(metal.Flatten(x, 0, -3), tokens, 0)
	return rows, metal.Take(flat, order, 0), inv
}
