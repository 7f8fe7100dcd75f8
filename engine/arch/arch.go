// Package arch holds the model architectures, one file per mlx-lm model file,
// and the registry that picks one by config.json's model_type. Models are
// batch-first: inputs are token ids [B, L] with per-sequence cache offsets.
// Everything here runs on the MLX thread (inside metal.Do).
package arch

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// ErrUnsupportedArch marks a model_type with no architecture in the registry.
var ErrUnsupportedArch = errors.New("unsupported model type")

// ErrCacheOptions marks cache options the model cannot honour.
var ErrCacheOptions = errors.New("unsupported cache options")

// Model is a loaded causal language model.
type Model interface {
	// Hidden runs ids [B, L] (int32) through the model, appending to caches
	// (nil: no cache) and returns the final normalized hidden states [B, L, H].
	Hidden(ids *metal.Array, caches []cache.Cache) *metal.Array
	// Logits projects hidden states onto the vocabulary.
	Logits(h *metal.Array) *metal.Array
	// NewCaches returns one fresh cache per layer.
	NewCaches(opts CacheOptions) ([]cache.Cache, error)
	// Arrays returns every array the model owns (kept; freed by the caller
	// when the model is unloaded).
	Arrays() []*metal.Array
	// NumLayers is the number of decoder layers.
	NumLayers() int
}

// CacheOptions choose the KV cache of each layer.
type CacheOptions struct {
	// MaxKVSize bounds every full-attention cache (a rotating cache keeping
	// the first 4 positions); 0 means unbounded.
	MaxKVSize int
	// KVBits > 0 quantizes full-attention caches (KVGroupSize, default 64).
	KVBits, KVGroupSize int
	// LeftPad is each sequence's left padding for a batch (nil: none).
	LeftPad []int
}

// Constructor builds a model from its config and sanitized weights.
type Constructor func(cfg *model.Config, w *layer.Weights) (Model, error)

// Sanitizer rewrites the loaded weight table into the names the constructor
// takes (mlx-lm's Model.sanitize); it may delete and add entries.
type Sanitizer func(cfg *model.Config, weights map[string]*metal.Array) error

// QuantPredicate is an architecture's own quantization choice for the
// module at path (mlx-lm's Model.quant_predicate): nil keeps the converter's
// parameters, otherwise the module gets the returned ones.
type QuantPredicate func(path string) *model.QuantParams

// Arch is one registry entry.
type Arch struct {
	New      Constructor
	Sanitize Sanitizer
	// Quant is nil when the architecture quantizes every module alike.
	Quant QuantPredicate
	// SavePrefix is put back in front of sanitized weight names when a
	// converted model is written, for architectures whose sanitizer strips
	// a wrapper module mlx-lm keeps (gemma3's "language_model.").
	SavePrefix string
}

// registry maps model_type to its architecture.
var registry = map[string]Arch{
	"llama":       {New: newLlama, Sanitize: sanitizeLlama},
	"mistral":     {New: newMistral, Sanitize: sanitizeLlama},
	"qwen2":       {New: newQwen2, Sanitize: sanitizeLlama},
	"qwen3":       {New: newQwen3, Sanitize: sanitizeLlama},
	"qwen3_moe":   {New: newQwen3Moe, Sanitize: sanitizeQwen3Moe, Quant: quantQwen3Moe},
	"gemma3_text": {New: newGemma3Text, Sanitize: sanitizeGemma3Text},
	"gemma3":      {New: newGemma3, Sanitize: sanitizeGemma3, SavePrefix: "language_model."},
	"phi3":        {New: newPhi3, Sanitize: sanitizeLlama},
}

// register adds model types to the registry; an architecture's own file
// calls it from init, so each file can be added without touching this one.
func register(a Arch, modelTypes ...string) {
	for _, t := range modelTypes {
		if _, dup := registry[t]; dup {
			panic("arch: model type " + t + " registered twice")
		}
		registry[t] = a
	}
}

// Lookup returns the architecture for model_type, or an error listing the
// supported ones.
func Lookup(modelType string) (Arch, error) {
	a, ok := registry[modelType]
	if !ok {
		return Arch{}, fmt.Errorf("%w %q (supported: %s)", ErrUnsupportedArch, modelType, strings.Join(Supported(), ", "))
	}
	return a, nil
}

// Supported lists the model types the registry knows, sorted.
func Supported() []string {
	names := make([]string, 0, len(registry))
	for k := range registry {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
