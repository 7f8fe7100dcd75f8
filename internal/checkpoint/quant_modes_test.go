package checkpoint

import (
	"strings"
	"testing"
)

// TestQuantizationModeOverrides reads an mlx-community gpt-oss style block:
// MXFP4 by default, the router overridden with group_size and bits only,
// which mlx passes to to_quantized as is, so its mode is affine (not the
// default mxfp4), and an override naming only its mode, which takes that
// mode's group size and bits.
func TestQuantizationModeOverrides(t *testing.T) {
	c, err := ParseConfig("config.json", []byte(`{"model_type":"gpt_oss",
		"quantization":{"group_size":32,"bits":4,"mode":"mxfp4",
			"model.layers.0.mlp.router":{"group_size":64,"bits":8},
			"model.layers.0.self_attn.q_proj":{"mode":"nvfp4"},
			"lm_head":{"mode":"mxfp8"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]QuantParams{
		"model.layers.0.mlp.experts.gate_proj": {32, 4, "mxfp4"},
		"model.layers.0.mlp.router":            {64, 8, "affine"},
		"model.layers.0.self_attn.q_proj":      {16, 4, "nvfp4"},
		"lm_head":                              {32, 8, "mxfp8"},
	} {
		if got, ok := c.Quantization.For(path); !ok || got != want {
			t.Errorf("For(%q) = %+v %v, want %+v", path, got, ok, want)
		}
	}
	// A bare mode takes its own defaults.
	c, err = ParseConfig("config.json", []byte(`{"model_type":"llama","quantization":{"mode":"nvfp4"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Quantization.QuantParams; got != (QuantParams{16, 4, "nvfp4"}) {
		t.Errorf("bare nvfp4: %+v", got)
	}
}

// TestQuantizationModeErrors refuses modes MLX does not have and the
// floating-point modes with a group size or bits MLX rejects.
func TestQuantizationModeErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"group_size":64,"bits":4,"mode":"int4"}`, `mode "int4"`},
		{`{"group_size":64,"bits":4,"mode":"mxfp4"}`, "mxfp4 takes group_size 32 and bits 4"},
		{`{"group_size":32,"bits":4,"mode":"mxfp8"}`, "mxfp8 takes group_size 32 and bits 8"},
		{`{"group_size":32,"bits":4,"mode":"nvfp4"}`, "nvfp4 takes group_size 16"},
		{`{"group_size":32,"bits":4,"mode":"mxfp4","lm_head":{"mode":"mxfp4","group_size":16}}`, `override "lm_head"`},
		{`{"group_size":16,"bits":4,"mode":"nvfp4","lm_head":{"mode":"nvfp4","group_size":16,"bits":4,"global_scale":true}}`, "global_scale"},
	} {
		_, err := ParseConfig("config.json", []byte(`{"model_type":"llama","quantization":`+tc.json+`}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.json, err, tc.want)
		}
	}
}

// TestQuantMethodMXFP4 reads OpenAI's gpt-oss quantization_config as
// mlx-lm does: quant_method mxfp4 is MLX's mxfp4 mode (group 32, 4 bits).
func TestQuantMethodMXFP4(t *testing.T) {
	c, err := ParseConfig("config.json", []byte(`{"model_type":"gpt_oss",
		"quantization_config":{"quant_method":"mxfp4","modules_to_not_convert":["model.layers.*.self_attn","lm_head"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Quantization.For("model.layers.0.mlp.experts.down_proj"); !ok || got != (QuantParams{32, 4, "mxfp4"}) {
		t.Errorf("experts: %+v %v, want mxfp4 group 32, 4 bits", got, ok)
	}
}
