package arch

import (
	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/metal"
)

// mixedLayer is one layer of a model that mixes attention layers with
// state-carrying ones (LFM2's short convolutions, Qwen3-Next's Gated
// DeltaNet).
type mixedLayer interface {
	Forward(x *metal.Array, mask cache.Mask, c cache.Cache, offsets *metal.Array) *metal.Array
	// carriesState reports a state layer (a recurrent or convolution
	// state), as opposed to an attention layer.
	carriesState() bool
}

// mixedHidden runs ids through embed, the layers and norm. Attention layers
// take the causal mask of layer attnIdx's cache, state layers the padding
// mask of layer stateIdx's (-1: the model has no layer of that kind).
func mixedHidden[L mixedLayer](embed *layer.Embedding, layers []L, norm *layer.RMSNorm, attnIdx, stateIdx int, ids *metal.Array, caches []cache.Cache) *metal.Array {
	h := embed.Forward(ids)
	n := ids.Dim(1)
	var offsets *metal.Array
	if len(caches) > 0 {
		offsets = caches[0].Offsets()
	} else {
		offsets = metal.Zeros([]int{ids.Dim(0)}, metal.Int32)
	}
	var attnMask, stateMask cache.Mask
	if attnIdx >= 0 {
		attnMask = lfm2AttnMask(n, layerCache(caches, attnIdx))
	}
	if stateIdx >= 0 {
		if c := layerCache(caches, stateIdx); c != nil {
			stateMask = c.MakeMask(n, 0)
		}
	}
	for i, l := range layers {
		mask := attnMask
		if l.carriesState() {
			mask = stateMask
		}
		h = l.Forward(h, mask, layerCache(caches, i), offsets)
	}
	return norm.Forward(h)
}
