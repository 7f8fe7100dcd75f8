package engine

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/lmx-app/lmx/engine/arch"
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
	est, err := estimate(cfg, readWeights(headers), contextTokens, opts)
	if err != nil {
		return MemoryEstimate{}, fmt.Errorf("estimate %s: %w", dir, err)
	}
	return est, nil
}

// EstimateConfig is Estimate before a download: from the text of a
// config.json and the weight files' total size, the KV cache laid out as
// the architecture keeps it in the activations' dtype that config.json
// names (float32, else 16-bit), as the Hub's "will it fit" needs.
func EstimateConfig(configJSON []byte, weightBytes int64, contextTokens int, opts Options) (MemoryEstimate, error) {
	cfg, err := model.ParseConfig("config.json", configJSON)
	if err != nil {
		return MemoryEstimate{}, err
	}
	var dtypes struct {
		Torch string `json:"torch_dtype"`
		DType string `json:"dtype"`
	}
	_ = json.Unmarshal(configJSON, &dtypes)
	text := cfg.Language()
	_ = text.Decode(&dtypes) // a multimodal checkpoint's text_config may name its own
	w := weightFacts{bytes: weightBytes, kvDim: map[int]int{}, actBytes: 2}
	if cmp.Or(dtypes.Torch, dtypes.DType) == "float32" {
		w.actBytes = 4
	}
	if text.NumHiddenLayers <= 0 {
		return MemoryEstimate{}, text.FieldError("num_hidden_layers", "must be a positive integer")
	}
	return estimate(text, w, contextTokens, opts)
}

// estimate adds the KV cache of contextTokens (<= 0: the context length)
// to the weights.
func estimate(cfg *model.Config, w weightFacts, contextTokens int, opts Options) (MemoryEstimate, error) {
	if contextTokens <= 0 {
		contextTokens = cfg.MaxPositionEmbeddings
	}
	est := MemoryEstimate{WeightBytes: w.bytes, ContextTokens: contextTokens}
	layers, err := kvLayers(cfg, w, opts)
	if err != nil {
		return MemoryEstimate{}, err
	}
	for i, l := range layers {
		if l.perToken <= 0 && l.fixed <= 0 {
			return MemoryEstimate{}, fmt.Errorf("layer %d: no key/value size in config.json or weights", i)
		}
		n := int64(contextTokens)
		if l.bound > 0 {
			n = min(n, int64(l.bound))
		}
		est.KVBytesPerToken += l.perToken
		est.KVBytes += n*l.perToken + l.fixed
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
	cfg = cfg.Language()
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

// kvLayer is one layer's cache: bytes per token, the most tokens it holds
// (0: the whole context), and fixed bytes (a state layer's).
type kvLayer struct {
	perToken int64
	bound    int
	fixed    int64
}

// kvLayers lays out the caches the way the architectures' NewCaches does:
// sliding-window layers keep their window, the others are bounded by
// MaxKVSize when set, else quantized when KVBits is set, else standard;
// layers with a state instead hold it whole. Keys and values are as wide as
// the architecture's layout says (arch.CacheLayout), else as each layer's
// k_proj weight, else num_key_value_heads × head_dim.
func kvLayers(cfg *model.Config, w weightFacts, opts Options) ([]kvLayer, error) {
	layout, custom, err := arch.CacheLayout(cfg)
	if err != nil {
		return nil, err
	}
	sliding := slidingLayers(cfg)
	n := cfg.NumHiddenLayers
	if custom {
		n = len(layout)
	}
	layers := make([]kvLayer, n)
	for i := range layers {
		dim := int64(w.kvDim[i])
		if dim == 0 {
			dim = int64(cfg.NumKeyValueHeads * cfg.HeadDim)
		}
		key, value, slide := dim, dim, i < len(sliding) && sliding[i]
		if custom {
			l := layout[i]
			if l.Key == 0 && l.Value == 0 {
				layers[i] = kvLayer{fixed: int64(l.State)*w.actBytes + int64(l.State32)*4}
				continue
			}
			key, value, slide = int64(l.Key), int64(l.Value), l.Sliding
		}
		plain := (key + value) * w.actBytes
		switch {
		case slide:
			layers[i] = kvLayer{perToken: plain, bound: cfg.SlidingWindow}
		case opts.MaxKVSize > 0:
			layers[i] = kvLayer{perToken: plain, bound: opts.MaxKVSize}
		case opts.KVBits > 0:
			group := int64(opts.KVGroupSize)
			if group == 0 {
				group = 64
			}
			// Packed values plus a scale and a bias per group, for K and V.
			layers[i] = kvLayer{perToken: (key+value)*int64(opts.KVBits)/8 + 2*(key/group+value/group)*w.actBytes}
		default:
			layers[i] = kvLayer{perToken: plain}
		}
	}
	return layers, nil
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
