package arch

import (
	"github.com/lmx-app/lmx/engine/model"
)

// LayerCache is what one layer's cache holds for one sequence, counted in
// elements: Key and Value per token for an attention layer (Sliding: it
// keeps only the sliding window), or a fixed state for a layer that carries
// one instead (State in the activations' dtype, State32 in float32).
type LayerCache struct {
	Key, Value     int
	Sliding        bool
	State, State32 int
}

// cacheLayouts are the architectures whose caches are not the standard
// one key and one value of num_key_value_heads × head_dim per token and
// layer (which the weights' k_proj gives).
var cacheLayouts = map[string]func(c *model.Config) ([]LayerCache, error){
	"deepseek_v3": mlaLayout, "kimi_k2": mlaLayout, "joyai_llm_flash": mlaLayout,
	"gemma4_text": gemma4Layout,
	"lfm2":        lfm2Layout,
	"qwen3_next":  qwen3NextLayout,
	"qwen3_5_text": func(c *model.Config) ([]LayerCache, error) {
		c, err := c.WithDefaults(qwen35Defaults)
		if err != nil {
			return nil, err
		}
		return qwen3NextLayout(c)
	},
}

// CacheLayout returns the cache of each layer that keeps one, as the
// architecture's NewCaches makes it, from config.json alone (for memory
// estimates before a load); a layer that reads another layer's cache
// (Gemma 4's KV-shared ones) keeps none and has no entry. ok is false for
// the standard layout.
func CacheLayout(c *model.Config) (layers []LayerCache, ok bool, err error) {
	fn := cacheLayouts[c.ModelType]
	if c.ModelType == "qwen3_5_moe_text" {
		fn = cacheLayouts["qwen3_5_text"]
	}
	if fn == nil {
		return nil, false, nil
	}
	layers, err = fn(c)
	return layers, err == nil, err
}

// mlaLayout: multi-head latent attention caches one latent "head" per
// token: kv_lora_rank + the rope part as keys, kv_lora_rank as values.
func mlaLayout(c *model.Config) ([]LayerCache, error) {
	a, err := readMLAArgs(c)
	if err != nil {
		return nil, err
	}
	out := make([]LayerCache, c.NumHiddenLayers)
	for i := range out {
		out[i] = LayerCache{Key: a.KVLoraRank + a.QKRopeHeadDim, Value: a.KVLoraRank}
	}
	return out, nil
}

// gemma4Layout: each layer's own K/V heads and head dim; a layer that
// reuses another's keys and values reads that layer's cache and has no
// entry (as in mlx-lm's make_cache).
func gemma4Layout(c *model.Config) ([]LayerCache, error) {
	p, err := readGemma4(c)
	if err != nil {
		return nil, err
	}
	var out []LayerCache
	for i, g := range p.layers {
		if g.source == i {
			w := g.nKVHeads * g.headDim
			out = append(out, LayerCache{Key: w, Value: w, Sliding: g.sliding})
		}
	}
	return out, nil
}

// lfm2Layout: attention layers cache keys and values, convolution layers
// their last conv_L_cache - 1 inputs.
func lfm2Layout(c *model.Config) ([]LayerCache, error) {
	a, err := lfm2Config(c)
	if err != nil {
		return nil, err
	}
	out := make([]LayerCache, c.NumHiddenLayers)
	for i := range out {
		out[i] = LayerCache{State: (a.ConvLCache - 1) * c.HiddenSize}
	}
	w := c.NumKeyValueHeads * (c.HiddenSize / c.NumAttentionHeads)
	for _, i := range a.FullAttnIdxs {
		if i >= 0 && i < len(out) {
			out[i] = LayerCache{Key: w, Value: w}
		}
	}
	return out, nil
}

// qwen3NextLayout: full-attention layers cache keys and values; Gated
// DeltaNet layers their convolution's last inputs (kernel - 1 rows of the
// q, k and v width) and the recurrent state (value heads × key dim × value
// dim, float32).
func qwen3NextLayout(c *model.Config) ([]LayerCache, error) {
	a, linear, err := readHybrid(c)
	if err != nil {
		return nil, err
	}
	conv := 2*a.LinearNumKeyHeads*a.LinearKeyHeadDim + a.LinearNumValueHeads*a.LinearValueHeadDim
	w := c.NumKeyValueHeads * c.HeadDim
	out := make([]LayerCache, len(linear))
	for i, lin := range linear {
		if lin {
			out[i] = LayerCache{State: (a.LinearConvKernelDim - 1) * conv, State32: a.LinearNumValueHeads * a.LinearKeyHeadDim * a.LinearValueHeadDim}
		} else {
			out[i] = LayerCache{Key: w, Value: w}
		}
	}
	return out, nil
}
