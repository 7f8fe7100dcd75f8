// Package checkpoint reads the format of a Hugging Face / mlx-community model
// folder without MLX: config.json (transformers 4 and 5 styles), MLX
// quantization settings, safetensors headers and shard indexes. It is the
// one reader of a model folder for the engine (engine/model re-exports it)
// and the library scan (store/library), so that the library's "supported"
// and the engine's loader judge a folder alike. A leaf: it imports nothing
// of the project, so the store can use it without depending on the engine.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
)

// ErrInvalidConfig marks a config.json that is missing a field or holds a bad value.
var ErrInvalidConfig = errors.New("invalid model config")

// Config holds the fields of config.json that every supported architecture
// shares, normalized across transformers versions. Architecture-specific fields
// are read with Decode.
type Config struct {
	// Path is the config.json file this was read from (used in errors).
	Path                  string
	ModelType             string
	HiddenSize            int
	NumHiddenLayers       int
	IntermediateSize      int
	NumAttentionHeads     int
	NumKeyValueHeads      int
	HeadDim               int
	VocabSize             int
	RMSNormEps            float64
	MaxPositionEmbeddings int
	AttentionBias         bool
	MLPBias               bool
	// TieWordEmbeddings is nil when config.json does not say; each architecture
	// then applies mlx-lm's default for it.
	TieWordEmbeddings *bool
	SlidingWindow     int
	LayerTypes        []string
	RopeTraditional   bool
	// Rope holds rope settings per layer type ("" for all layers, or keys such
	// as "full_attention" / "sliding_attention" as transformers 5 writes them).
	Rope map[string]Rope
	// EOSTokenIDs from config.json (generation_config.json adds to them).
	EOSTokenIDs []int
	// Quantization is nil for unquantized models.
	Quantization *Quantization

	raw map[string]json.RawMessage
}

// ReadConfig reads and normalizes dir/config.json. It checks only what every
// architecture needs; constructors validate the rest.
func ReadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model config: %w", err)
	}
	return ParseConfig(path, data)
}

// ParseConfig normalizes the JSON of a config.json; path is used in errors.
func ParseConfig(path string, data []byte) (*Config, error) {
	c := &Config{Path: path}
	if err := json.Unmarshal(data, &c.raw); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrInvalidConfig, err)
	}
	var j configJSON
	if err := c.Decode(&j); err != nil {
		return nil, err
	}
	if err := c.fill(&j); err != nil {
		return nil, err
	}
	return c, nil
}

// configJSON mirrors the shared config.json fields as written on disk.
type configJSON struct {
	ModelType             string          `json:"model_type"`
	HiddenSize            int             `json:"hidden_size"`
	NumHiddenLayers       int             `json:"num_hidden_layers"`
	IntermediateSize      int             `json:"intermediate_size"`
	NumAttentionHeads     int             `json:"num_attention_heads"`
	NumKeyValueHeads      *int            `json:"num_key_value_heads"`
	HeadDim               *int            `json:"head_dim"`
	VocabSize             int             `json:"vocab_size"`
	RMSNormEps            *float64        `json:"rms_norm_eps"`
	MaxPositionEmbeddings int             `json:"max_position_embeddings"`
	AttentionBias         bool            `json:"attention_bias"`
	MLPBias               bool            `json:"mlp_bias"`
	TieWordEmbeddings     *bool           `json:"tie_word_embeddings"`
	SlidingWindow         *int            `json:"sliding_window"`
	LayerTypes            []string        `json:"layer_types"`
	RopeTraditional       bool            `json:"rope_traditional"`
	RopeTheta             *float64        `json:"rope_theta"`
	RopeScaling           json.RawMessage `json:"rope_scaling"`
	RopeParameters        json.RawMessage `json:"rope_parameters"`
	RopeLocalBaseFreq     *float64        `json:"rope_local_base_freq"`
	PartialRotaryFactor   *float64        `json:"partial_rotary_factor"`
	EOSTokenID            json.RawMessage `json:"eos_token_id"`
	Quantization          json.RawMessage `json:"quantization"`
	QuantizationConfig    json.RawMessage `json:"quantization_config"`
	TextConfig            json.RawMessage `json:"text_config"`
}

// fill copies the decoded fields into c, applying defaults and checks.
func (c *Config) fill(j *configJSON) error {
	c.ModelType = j.ModelType
	if c.ModelType == "" {
		return c.FieldError("model_type", "missing")
	}
	c.HiddenSize, c.NumHiddenLayers = j.HiddenSize, j.NumHiddenLayers
	c.IntermediateSize, c.NumAttentionHeads = j.IntermediateSize, j.NumAttentionHeads
	c.VocabSize, c.MaxPositionEmbeddings = j.VocabSize, j.MaxPositionEmbeddings
	c.AttentionBias, c.MLPBias = j.AttentionBias, j.MLPBias
	c.TieWordEmbeddings, c.LayerTypes = j.TieWordEmbeddings, j.LayerTypes
	c.RopeTraditional = j.RopeTraditional
	c.RMSNormEps = 1e-6
	if j.RMSNormEps != nil {
		c.RMSNormEps = *j.RMSNormEps
	}
	c.NumKeyValueHeads = c.NumAttentionHeads
	if j.NumKeyValueHeads != nil {
		c.NumKeyValueHeads = *j.NumKeyValueHeads
	}
	if c.NumAttentionHeads > 0 {
		c.HeadDim = c.HiddenSize / c.NumAttentionHeads
	}
	if j.HeadDim != nil && *j.HeadDim > 0 {
		c.HeadDim = *j.HeadDim
	}
	if j.SlidingWindow != nil {
		c.SlidingWindow = *j.SlidingWindow
	}
	return c.fillExtras(j)
}

// fillExtras parses the nested fields: rope, EOS ids, quantization.
func (c *Config) fillExtras(j *configJSON) error {
	rope, err := parseRope(c, j)
	if err != nil {
		return err
	}
	c.Rope = rope
	if c.EOSTokenIDs, err = ParseTokenIDs(j.EOSTokenID); err != nil {
		return c.FieldError("eos_token_id", err.Error())
	}
	q := j.Quantization
	if len(q) == 0 || string(q) == "null" {
		q = j.QuantizationConfig
	}
	if c.Quantization, err = parseQuantization(q); err != nil {
		return c.FieldError("quantization", err.Error())
	}
	return nil
}

// Decode unmarshals config.json into v (an architecture's own argument struct).
func (c *Config) Decode(v any) error {
	data, err := json.Marshal(c.raw)
	if err != nil {
		return fmt.Errorf("%s: %w: %v", c.Path, ErrInvalidConfig, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w: %v", c.Path, ErrInvalidConfig, err)
	}
	return nil
}

// Has reports whether config.json sets key (at the top level, even to null).
func (c *Config) Has(key string) bool {
	_, ok := c.raw[key]
	return ok
}

// Tie returns TieWordEmbeddings, or def when config.json does not set it.
func (c *Config) Tie(def bool) bool {
	if c.TieWordEmbeddings == nil {
		return def
	}
	return *c.TieWordEmbeddings
}

// FieldError returns an ErrInvalidConfig error naming the file and the field.
func (c *Config) FieldError(field, msg string) error {
	return fmt.Errorf("%s: %w: field %q: %s", c.Path, ErrInvalidConfig, field, msg)
}

// RequirePositive checks that each named field is > 0, for constructors.
func (c *Config) RequirePositive(fields map[string]int) error {
	for _, name := range sortedKeys(fields) {
		if fields[name] <= 0 {
			return c.FieldError(name, fmt.Sprintf("must be a positive integer, got %d", fields[name]))
		}
	}
	return nil
}

// ParseTokenIDs accepts null, an integer or a list of integers.
func ParseTokenIDs(raw json.RawMessage) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want an integer or a list of integers, got %s", raw)
	}
	return many, nil
}

// WithDefaults returns the config re-read with defaults for the keys
// config.json lacks (an architecture's ModelArgs defaults, as mlx-lm has).
func (c *Config) WithDefaults(defaults map[string]any) (*Config, error) {
	return c.derive(c.raw, defaults, nil)
}

// Nested returns the object under key (such as a multimodal checkpoint's
// "text_config") as a Config of its own, with forced values set and defaults
// for absent keys.
func (c *Config) Nested(key string, defaults, forced map[string]any) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(c.raw[key], &raw); err != nil || raw == nil {
		return nil, c.FieldError(key, "want an object")
	}
	return c.derive(raw, defaults, forced)
}

// With returns the config with forced values set at the top level and, for
// a multimodal checkpoint, in its "text_config" object too (the sizes a
// language model is built from may live in either).
func (c *Config) With(forced map[string]any) (*Config, error) {
	raw := maps.Clone(c.raw)
	var text map[string]json.RawMessage
	if json.Unmarshal(c.raw["text_config"], &text) == nil && text != nil {
		for k, v := range forced {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w: %v", c.Path, ErrInvalidConfig, err)
			}
			text[k] = b
		}
		b, err := json.Marshal(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w: %v", c.Path, ErrInvalidConfig, err)
		}
		raw["text_config"] = b
	}
	return c.derive(raw, nil, forced)
}

// derive builds a Config from raw plus defaults and forced values.
func (c *Config) derive(raw map[string]json.RawMessage, defaults, forced map[string]any) (*Config, error) {
	merged := make(map[string]any, len(raw)+len(defaults)+len(forced))
	for k, v := range defaults {
		merged[k] = v
	}
	for k, v := range raw {
		merged[k] = v
	}
	for k, v := range forced {
		merged[k] = v
	}
	data, err := json.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", c.Path, ErrInvalidConfig, err)
	}
	return ParseConfig(c.Path, data)
}

// Language is the config that describes the language model: c
// itself, or for a multimodal wrapper (mistral3, gemma3, gemma4) whose
// config.json keeps the text model's sizes only under "text_config", that
// object (c when it cannot be read).
func (c *Config) Language() *Config {
	if !c.Has("text_config") || (c.NumHiddenLayers > 0 && c.VocabSize > 0) {
		return c
	}
	text, err := c.Nested("text_config", nil, nil)
	if err != nil {
		return c
	}
	// A size the wrapper keeps at its top level only (some keep vocab_size
	// there) still counts.
	if text.VocabSize == 0 {
		text.VocabSize = c.VocabSize
	}
	if text.MaxPositionEmbeddings == 0 {
		text.MaxPositionEmbeddings = c.MaxPositionEmbeddings
	}
	return text
}
