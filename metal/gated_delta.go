package metal

// Shim function of fast.cpp for Gated DeltaNet (Qwen3-Next, Qwen3.5), bound
// through fastSyms.
var (
	// int lmx_gated_delta_step(lmx_array* outs, lmx_array q, lmx_array k,
	//     lmx_array v, lmx_array g, lmx_array beta, lmx_array state,
	//     lmx_array mask);
	fnGatedDeltaStep uintptr
)

// GatedDeltaStep is one step of the gated delta rule (mlx_lm's
// _gated_delta_step_ops), compiled by MLX into a few fused kernels; with
// compilation off MLX runs the same ops unfused. With S the state:
//
//	S ← S·g;  δ = (v − S·k)·β;  S ← S + δ ⊗ k;  y = S·q
//
// q, k [B, H, Dk]; v [B, H, Dv]; g [B, H] (or [B, H, Dk], one decay per key
// channel); beta [B, H]; state [B, H, Dv, Dk], float32 in practice; mask
// bool [B] or nil: where false, the state passes through unchanged (padded
// steps). Returns y [B, H, Dv] in q's dtype and the new state. Shapes that
// do not fit give an MLX error naming the input.
func GatedDeltaStep(q, k, v, g, beta, state, mask *Array) (y, newState *Array) {
	mh, ok := optional(mask)
	if !usable(q, k, v, g, beta, state) || !ok {
		return &Array{}, &Array{}
	}
	r := call(fnGatedDeltaStep, outp(), q.h, k.h, v.h, g.h, beta.h, state.h, mh)
	if !check("gated_delta_step", r) {
		return &Array{}, &Array{}
	}
	return track(outSlots[0]), track(outSlots[1])
}
