package checkpoint

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Rope is one rotary-embedding setting, normalized from transformers 4
// (rope_theta + rope_scaling) or transformers 5 (rope_parameters).
type Rope struct {
	// Type is "default", "linear", "llama3", "yarn", "longrope", ...
	Type string `json:"rope_type"`
	// Theta is the base; 0 means config.json did not say (the architecture
	// applies its default).
	Theta                         float64   `json:"rope_theta"`
	Factor                        float64   `json:"factor"`
	LowFreqFactor                 float64   `json:"low_freq_factor"`
	HighFreqFactor                float64   `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int       `json:"original_max_position_embeddings"`
	BetaFast                      float64   `json:"beta_fast"`
	BetaSlow                      float64   `json:"beta_slow"`
	Mscale                        float64   `json:"mscale"`
	MscaleAllDim                  float64   `json:"mscale_all_dim"`
	AttentionFactor               *float64  `json:"attention_factor"`
	PartialRotaryFactor           float64   `json:"partial_rotary_factor"`
	ShortFactor                   []float64 `json:"short_factor"`
	LongFactor                    []float64 `json:"long_factor"`

	// Truncate is YaRN's rounding of the correction range to whole dims
	// (transformers' default true; gpt-oss ships false).
	Truncate *bool `json:"truncate"`
}

// RopeFor returns the rope settings of a layer type ("full_attention",
// "sliding_attention"), falling back to the settings shared by all layers.
func (c *Config) RopeFor(layerType string) Rope {
	if r, ok := c.Rope[layerType]; ok {
		return r
	}
	if r, ok := c.Rope[""]; ok {
		return r
	}
	return c.Rope["full_attention"]
}

// parseRope builds the per-layer-type rope table from either config style.
func parseRope(c *Config, j *configJSON) (map[string]Rope, error) {
	if isSet(j.RopeParameters) {
		return parseRopeParameters(c, j)
	}
	r := Rope{Type: "default", PartialRotaryFactor: 1}
	if isSet(j.RopeScaling) {
		if err := decodeRope(j.RopeScaling, &r); err != nil {
			return nil, c.FieldError("rope_scaling", err.Error())
		}
	}
	if j.RopeTheta != nil {
		r.Theta = *j.RopeTheta
	}
	if j.PartialRotaryFactor != nil {
		r.PartialRotaryFactor = *j.PartialRotaryFactor
	}
	table := map[string]Rope{"": r}
	if j.RopeLocalBaseFreq != nil {
		table["sliding_attention"] = Rope{Type: "default", Theta: *j.RopeLocalBaseFreq, PartialRotaryFactor: 1}
	}
	return table, nil
}

// parseRopeParameters reads transformers 5 rope_parameters: one object, or one
// object per layer type.
func parseRopeParameters(c *Config, j *configJSON) (map[string]Rope, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(j.RopeParameters, &fields); err != nil {
		return nil, c.FieldError("rope_parameters", "want an object")
	}
	_, hasTheta := fields["rope_theta"]
	_, hasType := fields["rope_type"]
	if hasTheta || hasType {
		r, err := ropeFromParams(j.RopeParameters, j.PartialRotaryFactor)
		if err != nil {
			return nil, c.FieldError("rope_parameters", err.Error())
		}
		return map[string]Rope{"": r}, nil
	}
	table := map[string]Rope{}
	for _, name := range sortedKeys(fields) {
		r, err := ropeFromParams(fields[name], j.PartialRotaryFactor)
		if err != nil {
			return nil, c.FieldError("rope_parameters."+name, err.Error())
		}
		table[name] = r
	}
	return table, nil
}

// ropeFromParams decodes one rope_parameters object.
func ropeFromParams(raw json.RawMessage, partial *float64) (Rope, error) {
	r := Rope{Type: "default", PartialRotaryFactor: 1}
	if partial != nil {
		r.PartialRotaryFactor = *partial
	}
	err := decodeRope(raw, &r)
	return r, err
}

// decodeRope decodes a rope object into r, accepting the legacy "type" key.
func decodeRope(raw json.RawMessage, r *Rope) error {
	if err := json.Unmarshal(raw, r); err != nil {
		return fmt.Errorf("bad rope settings: %v", err)
	}
	var legacy struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &legacy); err == nil && legacy.Type != "" {
		r.Type = legacy.Type
	}
	if r.Type == "" {
		r.Type = "default"
	}
	if r.Type == "su" {
		r.Type = "longrope"
	}
	return nil
}

// isSet reports whether a raw JSON value is present and not null.
func isSet(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// sortedKeys returns the keys of m in order, for deterministic errors.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
