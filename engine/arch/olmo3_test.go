package arch

import (
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/internal/mlxtest"
)

// olmo3_h72's sliding layers have plain rope and its full layer YaRN:
// giving the sliding layers the full layer's rope breaks the agreement, and
// so does dropping the q/k norms over the whole projections.
func TestOlmo3FixtureFeaturesMatter(t *testing.T) {
	mlxtest.Require(t)
	dir := repoFixture(t, "olmo3_h72")
	t.Run("per-layer-type rope", func(t *testing.T) {
		d := loadModel(t, dir).(*Decoder)
		var full *layer.RoPE
		for _, b := range d.Layers {
			if !b.Sliding {
				full = b.SelfAttn.Rope
			}
		}
		for _, b := range d.Layers {
			b.SelfAttn.Rope = full
		}
		requireMismatch(t, d, dir, "plain rope on the sliding layers")
	})
	t.Run("whole-projection q/k norms", func(t *testing.T) {
		d := loadModel(t, dir).(*Decoder)
		for _, b := range d.Layers {
			b.SelfAttn.QProjNorm, b.SelfAttn.KProjNorm = nil, nil
		}
		requireMismatch(t, d, dir, "q/k norms")
	})
}

func TestOlmo3Config(t *testing.T) {
	// A transformers 4 config: rope_theta and rope_scaling apply YaRN to
	// the full layers; the sliding layers rotate plainly with the same base.
	c := parseConfig(t, `{"model_type": "olmo3", "num_hidden_layers": 4, "sliding_window": 8,
		"rope_theta": 20000, "rope_scaling": {"rope_type": "yarn", "factor": 8, "original_max_position_embeddings": 4096}}`)
	rope := olmo3Rope(c)
	if full := rope(false); full.Type != "yarn" || full.Theta != 20000 || full.Factor != 8 {
		t.Errorf("full-attention rope %+v, want yarn of base 20000", full)
	}
	if sl := rope(true); sl.Type != "default" || sl.Theta != 20000 || sl.Factor != 0 {
		t.Errorf("sliding rope %+v, want plain rope of base 20000", sl)
	}
	// No rope settings at all: transformers' default base.
	if r := olmo3Rope(parseConfig(t, `{"model_type": "olmo3"}`))(true); r.Theta != olmo3Theta {
		t.Errorf("default base %g, want %d", r.Theta, olmo3Theta)
	}
	sliding, err := olmo3Sliding(c)
	if err != nil || len(sliding) != 4 || !sliding[0] || !sliding[2] || sliding[3] {
		t.Errorf("default layer types: %v, %v; want three sliding then one full", sliding, err)
	}
	for _, tt := range []struct{ js, field string }{
		{`{"model_type": "olmo3", "num_hidden_layers": 2, "sliding_window": 8, "layer_types": ["full_attention"]}`, "layer_types"},
		{`{"model_type": "olmo3", "num_hidden_layers": 1, "sliding_window": 8, "layer_types": ["chunked_attention"]}`, "layer_types"},
		{`{"model_type": "olmo3", "num_hidden_layers": 2, "layer_types": ["sliding_attention", "full_attention"]}`, "sliding_window"},
	} {
		if _, err := olmo3Sliding(parseConfig(t, tt.js)); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error %v, want one naming %s", tt.js, err, tt.field)
		}
	}
}
