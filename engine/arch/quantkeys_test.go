package arch

import (
	"testing"

	"github.com/lmx-app/lmx/engine/model"
)

// TestWrapperQuantOverridesFollowSanitizedNames reads the quantization of a
// wrapper model as mlx_lm writes it (Qwen3.5-MoE: the router gates at 8 bits
// under "language_model.", the rest at 4): after Sanitize strips the prefix
// from the weight names, the modules must still get their own bits.
func TestWrapperQuantOverridesFollowSanitizedNames(t *testing.T) {
	a, err := Lookup("qwen3_5_moe")
	if err != nil {
		t.Fatal(err)
	}
	if a.SavePrefix == "" {
		t.Fatal("qwen3_5_moe has no wrapper prefix: the test reads nothing")
	}
	q := &model.Quantization{
		QuantParams: model.QuantParams{GroupSize: 64, Bits: 4, Mode: "affine"},
		Overrides: map[string]*model.QuantParams{
			a.SavePrefix + "model.layers.0.mlp.gate": {GroupSize: 64, Bits: 8},
			a.SavePrefix + "model.layers.1.mlp.gate": nil, // left in float
		},
	}
	w := newWeights(a, nil, q)
	if p, err := w.Quant("model.layers.0.mlp.gate"); err != nil || p.Bits != 8 || p.GroupSize != 64 {
		t.Errorf("router of layer 0: %+v (%v), want 8 bits in groups of 64", p, err)
	}
	if _, err := w.Quant("model.layers.1.mlp.gate"); err == nil {
		t.Error("router of layer 1 is not quantized in the config, but got parameters for it")
	}
	if p, err := w.Quant("model.layers.0.mlp.experts.gate_up_proj"); err != nil || p.Bits != 4 {
		t.Errorf("experts: %+v (%v), want the default 4 bits", p, err)
	}
	if len(q.Overrides) != 2 {
		t.Errorf("the config's overrides were changed: %v", q.Overrides)
	}
}
