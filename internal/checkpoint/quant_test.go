package checkpoint

import "testing"

func TestQuantizationOverrides(t *testing.T) {
	c, err := ParseConfig("config.json", []byte(`{"model_type":"qwen3_moe",
		"quantization":{"group_size":64,"bits":4,"mode":"affine",
			"model.layers.0.mlp.gate":{"group_size":64,"bits":8},
			"model.layers.1.mlp.down_proj":{"bits":6},
			"lm_head":false},
		"quantization_config":{"group_size":32,"bits":8}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path  string
		want  QuantParams
		quant bool
	}{
		{"model.layers.0.self_attn.q_proj", QuantParams{64, 4, "affine"}, true},
		{"model.layers.0.mlp.gate", QuantParams{64, 8, "affine"}, true},
		{"model.layers.1.mlp.down_proj", QuantParams{64, 6, "affine"}, true},
		{"lm_head", QuantParams{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, ok := c.Quantization.For(tt.path)
			if got != tt.want || ok != tt.quant {
				t.Errorf("For(%q) = %+v %v, want %+v %v", tt.path, got, ok, tt.want, tt.quant)
			}
		})
	}
}

func TestQuantizationConfigFallback(t *testing.T) {
	tests := []struct {
		name string
		json string
		want *QuantParams
	}{
		{"none", `{"model_type":"llama"}`, nil},
		{"quantization_config only", `{"model_type":"llama","quantization_config":{"group_size":32,"bits":8}}`, &QuantParams{32, 8, "affine"}},
		{"mxfp4 mode", `{"model_type":"llama","quantization":{"group_size":32,"bits":4,"mode":"mxfp4"}}`, &QuantParams{32, 4, "mxfp4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig("config.json", []byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if c.Quantization != nil {
					t.Errorf("got %+v, want nil", c.Quantization)
				}
				return
			}
			if c.Quantization == nil || c.Quantization.QuantParams != *tt.want {
				t.Errorf("got %+v, want %+v", c.Quantization, tt.want)
			}
		})
	}
}
