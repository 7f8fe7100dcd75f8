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

// mixedHidden runs ids through embed, the layers and norm (st's layers
// only, when set). Attention layers take the causal mask of layer attnIdx's
// cache, state layers the padding mask of layer stateIdx's (-1: the model
// has no layer of that kind); with a stage, of the first layer of each kind
// it runs.
func mixedHidden[L mixedLayer](embed *layer.Embedding, layers []L, norm *layer.RMSNorm, attnIdx, stateIdx int, st *stage, ids *metal.Array, caches []cache.Cache) *metal.Array {
	h := st.enter(embed.Forward(ids))
	n := ids.Dim(1)
	attnIdx = st.pick(attnIdx, len(layers), func(i int) bool { return !layers[i].carriesState() })
	stateIdx = st.pick(stateIdx, len(layers), func(i int) bool { return layers[i].carriesState() })
	var offsets *metal.Array
	if len(caches) > 0 {
		offsets = caches[st.first()].Offsets()
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
		if !st.owns(i) {
			st.skip(layerCache(caches, i), n)
			continue
		}
		mask := attnMask
		if l.carriesState() {
			mask = stateMask
		}
		h = l.Forward(h, mask, layerCache(caches, i), offsets)
	}
	return norm.Forward(st.leave(h))
}
