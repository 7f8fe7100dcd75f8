package engine

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/lmx-app/lmx/engine/model"
)

// MemoryEstimate is the memory a model folder will take once loaded, read
// from config.json and the safetensors headers without loading anything.
type MemoryEstimate struct {
	// WeightBytes is what Info().WeightBytes will report: every tensor the
	// model keeps (a multimodal checkpoint's vision tower is left out).
	WeightBytes int64
	// KVBytesPerToken is what one token adds to a sequence's KV cache over
	// all layers, while the sequence is shorter than every window.
	KVBytesPerToken int64
	// ContextTokens is the sequence length KVBytes is for.
	ContextTokens int
	// KVBytes is one sequence's KV cache at ContextTokens, sliding-window
	// and bounded (Options.MaxKVSize) layers holding at most their window.
	KVBytes int64
}

// Total is the weights plus the KV cache.
func (e MemoryEstimate) Total() int64 { return e.WeightBytes + e.KVBytes }

// Estimate reads the model folder dir and estimates its memory with one
// sequence of contextTokens (<= 0: the model's context length,
// max_position_embeddings) in the KV cache opts chooses (quantized when
// opts.KVBits > 0, bounded when opts.MaxKVSize > 0, as Load's caches are).
// The KV figure counts whole tokens: the cache's allocation steps (256
// positions) are not added.
func Estimate(dir string, contextTokens int, opts Options) (MemoryEstimate, error) {
	cfg, err := textConfig(dir)
	if err != nil {
		return MemoryEstimate{}, fmt.Errorf("estimate %s: %w", dir, err)
	}
	headers, err := model.WeightHeaders(dir)
	if err != nil {
		return MemoryEstimate{}, fmt.Errorf("estimate %s: %w", dir, err)
	}
	w := readWeights(headers)
	if contextTokens <= 0 {
		contextTokens = cfg.MaxPositionEmbeddings
	}
	est := MemoryEstimate{WeightBytes: w.bytes, ContextTokens: contextTokens}
	for i, l := range kvLayers(cfg, w, opts) {
		if l.perToken <= 0 {
			return MemoryEstimate{}, fmt.Errorf("estimate %s: layer %d: no key/value size in config.json or weights", dir, i)
		}
		n := int64(contextTokens)
		if l.bound > 0 {
			n = min(n, int64(l.bound))
		}
		est.KVBytesPerToken += l.perToken
		est.KVBytes += n * l.perToken
	}
	return est, nil
}

// textConfig reads config.json, descending into text_config for a
// multimodal checkpoint whose language model is described there.
func textConfig(dir string) (*model.Config, error) {
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	cfg = languageConfig(cfg)
	if cfg.NumHiddenLayers <= 0 {
		return nil, cfg.FieldError("num_hidden_layers", "must be a positive integer")
	}
	return cfg, nil
}

// weightFacts are what the estimate needs from the safetensors headers.
type weightFacts struct {
	bytes int64
	// kvDim is each layer's key width (kv_heads × head_dim) read from its
	// k_proj weight; absent for fused projections.
	kvDim map[int]int
	// actBytes is the width of the activations' dtype (the unquantized
	// embedding's, or its scales'), which the KV cache stores.
	actBytes int64
}

// kProj matches a layer's key projection weight under any prefix.
var kProj = regexp.MustCompile(`layers\.(\d+)\.self_attn\.k_proj\.weight$`)

// readWeights sums the tensors the model keeps and reads the KV layout.
func readWeights(headers []*model.Header) weightFacts {
	w := weightFacts{kvDim: map[int]int{}, actBytes: 2}
	lm := false // a multimodal checkpoint keeps only language_model.*
	for _, h := range headers {
		for name := range h.Tensors {
			lm = lm || strings.HasPrefix(name, "language_model.")
		}
	}
	embed := ""
	for _, h := range headers {
		for name, t := range h.Tensors {
			if (lm && !strings.HasPrefix(name, "language_model.")) || strings.HasSuffix(name, "rotary_emb.inv_freq") {
				continue
			}
			w.bytes += t.Offsets[1] - t.Offsets[0]
			if m := kProj.FindStringSubmatch(name); m != nil && len(t.Shape) == 2 {
				i, _ := strconv.Atoi(m[1])
				w.kvDim[i] = t.Shape[0]
			}
			if (strings.HasSuffix(name, "embed_tokens.weight") && embed == "") || strings.HasSuffix(name, "embed_tokens.scales") {
				embed = t.Dtype
			}
		}
	}
	if n := floatBytes[embed]; n > 0 {
		w.actBytes = n
	}
	return w
}

// floatBytes are the widths of the float safetensors dtypes.
var floatBytes = map[string]int64{"F32": 4, "F16": 2, "BF16": 2}

// kvLayer is one layer's cache: bytes per token, and the most tokens it
// holds (0: the whole context).
type kvLayer struct {
	perToken int64
	bound    int
}

// kvLayers lays out the caches the way the architectures' NewCaches does:
// sliding-window layers keep their window, the others are bounded by
// MaxKVSize when set, else quantized when KVBits is set, else standard.
func kvLayers(cfg *model.Config, w weightFacts, opts Options) []kvLayer {
	sliding := slidingLayers(cfg)
	layers := make([]kvLayer, cfg.NumHiddenLayers)
	for i := range layers {
		dim := int64(w.kvDim[i])
		if dim == 0 {
			dim = int64(cfg.NumKeyValueHeads * cfg.HeadDim)
		}
		plain := 2 * dim * w.actBytes
		switch {
		case sliding[i]:
			layers[i] = kvLayer{perToken: plain, bound: cfg.SlidingWindow}
		case opts.MaxKVSize > 0:
			layers[i] = kvLayer{perToken: plain, bound: opts.MaxKVSize}
		case opts.KVBits > 0:
			group := int64(opts.KVGroupSize)
			if group == 0 {
				group = 64
			}
			// Packed values plus a scale and a bias per group, for K and V.
			layers[i] = kvLayer{perToken: 2 * (dim*int64(opts.KVBits)/8 + 2*(dim/group)*w.actBytes)}
		default:
			layers[i] = kvLayer{perToken: plain}
		}
	}
	return layers
}

// slidingLayers marks the sliding-window layers: layer_types when config.json
// lists them, else Gemma's sliding_window_pattern (every pattern-th layer is
// global). Without either every layer counts as global, which can only
// overestimate.
func slidingLayers(cfg *model.Config) []bool {
	sliding := make([]bool, cfg.NumHiddenLayers)
	if cfg.SlidingWindow <= 0 {
		return sliding
	}
	if len(cfg.LayerTypes) == cfg.NumHiddenLayers {
		for i, t := range cfg.LayerTypes {
			sliding[i] = t == "sliding_attention"
		}
		return sliding
	}
	var args struct {
		Pattern int `json:"sliding_window_pattern"`
		Legacy  int `json:"_sliding_window_pattern"`
	}
	if cfg.Decode(&args) != nil {
		return sliding
	}
	pattern := max(args.Pattern, args.Legacy)
	if args.Pattern > 0 {
		pattern = args.Pattern
	}
	for i := range sliding {
		sliding[i] = pattern > 0 && (i+1)%pattern != 0
	}
	return sliding
}
