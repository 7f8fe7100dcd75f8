package checkpoint

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

func TestReadConfigFixtures(t *testing.T) {
	models := filepath.Join(testutil.Fixtures(t), "models")
	tests := []struct {
		dir       string
		modelType string
		headDim   int
		kvHeads   int
		layerType string
		rope      Rope
		eos       []int
	}{
		{"llama", "llama", 16, 2, "", Rope{Type: "default", Theta: 10000, PartialRotaryFactor: 1}, []int{2}},
		{"llama3_rope", "llama", 16, 2, "", Rope{Type: "llama3", Theta: 500000, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 64, PartialRotaryFactor: 1}, []int{2}},
		{"qwen3", "qwen3", 32, 2, "full_attention", Rope{Type: "default", Theta: 1e6, PartialRotaryFactor: 1}, nil},
		{"gemma3_text", "gemma3_text", 16, 2, "sliding_attention", Rope{Type: "default", Theta: 10000, PartialRotaryFactor: 1}, []int{1}},
		{"gemma3_text", "gemma3_text", 16, 2, "full_attention", Rope{Type: "default", Theta: 1e6, PartialRotaryFactor: 1}, []int{1}},
		{"stories260k", "llama", 8, 4, "", Rope{Type: "default", Theta: 10000, PartialRotaryFactor: 1}, []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.layerType, func(t *testing.T) {
			c, err := ReadConfig(filepath.Join(models, tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if c.ModelType != tt.modelType || c.HeadDim != tt.headDim || c.NumKeyValueHeads != tt.kvHeads {
				t.Errorf("got type %q head_dim %d kv %d, want %q %d %d", c.ModelType, c.HeadDim, c.NumKeyValueHeads, tt.modelType, tt.headDim, tt.kvHeads)
			}
			if got := c.RopeFor(tt.layerType); !ropeEqual(got, tt.rope) {
				t.Errorf("rope %+v, want %+v", got, tt.rope)
			}
			if !intsEqual(c.EOSTokenIDs, tt.eos) {
				t.Errorf("eos %v, want %v", c.EOSTokenIDs, tt.eos)
			}
		})
	}
}

func TestParseConfigStyles(t *testing.T) {
	tests := []struct {
		name string
		json string
		want Rope
		kind string
	}{
		{"transformers4 linear", `{"model_type":"llama","rope_theta":5e5,"rope_scaling":{"type":"linear","factor":2.0}}`,
			Rope{Type: "linear", Theta: 5e5, Factor: 2, PartialRotaryFactor: 1}, ""},
		{"transformers4 llama3", `{"model_type":"llama","rope_theta":5e5,"rope_scaling":{"rope_type":"llama3","factor":8.0,"original_max_position_embeddings":8192}}`,
			Rope{Type: "llama3", Theta: 5e5, Factor: 8, OriginalMaxPositionEmbeddings: 8192, PartialRotaryFactor: 1}, ""},
		{"transformers4 gemma3 local base", `{"model_type":"gemma3_text","rope_theta":1e6,"rope_local_base_freq":1e4,"rope_scaling":{"rope_type":"linear","factor":8.0}}`,
			Rope{Type: "default", Theta: 1e4, PartialRotaryFactor: 1}, "sliding_attention"},
		{"transformers4 gemma3 global", `{"model_type":"gemma3_text","rope_theta":1e6,"rope_local_base_freq":1e4,"rope_scaling":{"rope_type":"linear","factor":8.0}}`,
			Rope{Type: "linear", Theta: 1e6, Factor: 8, PartialRotaryFactor: 1}, "full_attention"},
		{"transformers4 partial rotary", `{"model_type":"phi3","partial_rotary_factor":0.5}`,
			Rope{Type: "default", PartialRotaryFactor: 0.5}, ""},
		{"transformers5 yarn", `{"model_type":"qwen3","rope_parameters":{"rope_type":"yarn","rope_theta":1e6,"factor":4,"original_max_position_embeddings":32768}}`,
			Rope{Type: "yarn", Theta: 1e6, Factor: 4, OriginalMaxPositionEmbeddings: 32768, PartialRotaryFactor: 1}, ""},
		{"legacy su", `{"model_type":"phi3","rope_scaling":{"type":"su","long_factor":[1,2]}}`,
			Rope{Type: "longrope", PartialRotaryFactor: 1, LongFactor: []float64{1, 2}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("config.json", []byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.RopeFor(tt.kind); !ropeEqual(got, tt.want) {
				t.Errorf("rope %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, json, field string
	}{
		{"no model_type", `{"hidden_size":64}`, `"model_type"`},
		{"bad eos", `{"model_type":"llama","eos_token_id":"x"}`, `"eos_token_id"`},
		{"bad rope", `{"model_type":"llama","rope_scaling":[1]}`, `"rope_scaling"`},
		{"bad bits", `{"model_type":"llama","quantization":{"group_size":64,"bits":7}}`, `"quantization"`},
		{"not json", `{`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig("/m/config.json", []byte(tt.json))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), "/m/config.json") || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q should name the file and field %s", err, tt.field)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig("config.json", []byte(`{"model_type":"llama","hidden_size":64,"num_attention_heads":4,"eos_token_id":[5,6]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NumKeyValueHeads != 4 || c.HeadDim != 16 || c.Tie(true) != true || c.Tie(false) != false {
		t.Errorf("defaults: kv %d head_dim %d", c.NumKeyValueHeads, c.HeadDim)
	}
	if !intsEqual(c.EOSTokenIDs, []int{5, 6}) {
		t.Errorf("eos list %v", c.EOSTokenIDs)
	}
}

func ropeEqual(a, b Rope) bool {
	return a.Type == b.Type && a.Theta == b.Theta && a.Factor == b.Factor &&
		a.LowFreqFactor == b.LowFreqFactor && a.HighFreqFactor == b.HighFreqFactor &&
		a.OriginalMaxPositionEmbeddings == b.OriginalMaxPositionEmbeddings &&
		a.PartialRotaryFactor == b.PartialRotaryFactor && len(a.LongFactor) == len(b.LongFactor)
}

func intsEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfigNestedAndDefaults(t *testing.T) {
	c, err := ParseConfig("config.json", []byte(`{"model_type":"gemma3","vocab_size":300,
		"text_config":{"model_type":"gemma3_text","hidden_size":64,"num_attention_heads":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	text, err := c.Nested("text_config", map[string]any{"num_key_value_heads": 4, "hidden_size": 9}, map[string]any{"vocab_size": 300})
	if err != nil {
		t.Fatal(err)
	}
	if text.ModelType != "gemma3_text" || text.VocabSize != 300 || text.HiddenSize != 64 || text.NumKeyValueHeads != 4 {
		t.Errorf("nested: %+v", text)
	}
	d, err := text.WithDefaults(map[string]any{"head_dim": 256, "hidden_size": 1})
	if err != nil || d.HeadDim != 256 || d.HiddenSize != 64 {
		t.Errorf("defaults: head_dim %d hidden %d err %v", d.HeadDim, d.HiddenSize, err)
	}
	if _, err := c.Nested("vision_config", nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("missing nested object: %v", err)
	}
}
