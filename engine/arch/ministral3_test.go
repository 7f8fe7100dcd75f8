package arch

import (
	"math"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// Both Ministral 3 fixtures cross temperature steps inside the 23-token
// prompt: without the query temperature the logits no longer match.
func TestMinistral3TemperatureMatters(t *testing.T) {
	mlxtest.Require(t)
	for _, name := range []string{"ministral3_h96", "mistral3_h64"} {
		t.Run(name, func(t *testing.T) {
			dir := repoFixture(t, name)
			d := loadModel(t, dir).(*Decoder)
			for _, b := range d.Layers {
				if b.SelfAttn.QueryScale == nil {
					t.Fatal("a layer without the query temperature")
				}
				b.SelfAttn.QueryScale = nil
			}
			requireMismatch(t, d, dir, "the llama-4 query temperature")
		})
	}
}

// The temperature of each position, per sequence, is transformers'
// 1 + β·log(1 + ⌊p / orig⌋); left padding (negative positions) gets 1.
func TestLlama4Temperature(t *testing.T) {
	mlxtest.Require(t)
	temp := llama4Temperature{beta: 0.1, orig: 3}
	var got []float32
	mlxtest.Do(t, func() error {
		s := temp.scale(metal.FromInt32([]int32{0, 7, -2}, 3), 4)
		if sh := s.Shape(); len(sh) != 4 || sh[0] != 3 || sh[1] != 1 || sh[2] != 4 || sh[3] != 1 {
			t.Errorf("shape %v, want [3 1 4 1]", sh)
		}
		var err error
		got, err = s.Float32s()
		return err
	})
	for i, start := range []int{0, 7, -2} {
		for j := range 4 {
			p := max(start+j, 0)
			want := 1 + 0.1*math.Log(1+math.Floor(float64(p)/3))
			if g := float64(got[i*4+j]); math.Abs(g-want) > 1e-6 {
				t.Errorf("sequence %d position %d: %g, want %g", i, start+j, g, want)
			}
		}
	}
}

func TestMinistral3Config(t *testing.T) {
	base := `{"model_type": "ministral3", "num_hidden_layers": 2, `
	for _, tt := range []struct {
		js   string
		beta float64
		orig int
		err  string
	}{
		{base + `"rope_parameters": {"rope_type": "yarn", "llama_4_scaling_beta": 0.1, "original_max_position_embeddings": 16384}}`, 0.1, 16384, ""},
		{base + `"rope_scaling": {"rope_type": "yarn", "llama_4_scaling_beta": 0.2, "original_max_position_embeddings": 8192}}`, 0.2, 8192, ""},
		{base + `"rope_parameters": {"rope_type": "default"}}`, 0, 0, ""},
		{base + `"rope_parameters": {"rope_type": "yarn", "llama_4_scaling_beta": 0.1}}`, 0, 0, "original_max_position_embeddings"},
	} {
		c := parseConfig(t, tt.js)
		got, err := ministral3Temperature(c)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want one naming %s", tt.js, err, tt.err)
			}
			continue
		}
		if err != nil || got.beta != tt.beta || got.orig != tt.orig {
			t.Errorf("%s: %+v, %v; want beta %g over %d", tt.js, got, err, tt.beta, tt.orig)
		}
	}
	// Sliding windows: transformers windows every layer, mlx-lm the
	// layer_types ones; only configs where they agree load.
	if sl, w, err := ministral3Sliding(parseConfig(t, base+`"sliding_window": 8, "layer_types": ["sliding_attention", "sliding_attention"]}`)); err != nil || w != 8 || !sl[0] || !sl[1] {
		t.Errorf("all-sliding layer types: %v %d %v", sl, w, err)
	}
	for _, js := range []string{
		base + `"sliding_window": 8}`,
		base + `"sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"]}`,
		base + `"layer_types": ["sliding_attention", "full_attention"]}`,
	} {
		if _, _, err := ministral3Sliding(parseConfig(t, js)); err == nil {
			t.Errorf("%s: loaded, want an error", js)
		}
	}
}

func TestMinistral3RefusesFP8(t *testing.T) {
	mlxtest.Require(t)
	c := parseConfig(t, `{"model_type": "ministral3", "tie_word_embeddings": false}`)
	mlxtest.Do(t, func() error {
		w := map[string]*metal.Array{
			"model.layers.0.self_attn.q_proj.weight":           metal.Zeros([]int{2, 2}, metal.Float32),
			"model.layers.0.self_attn.q_proj.weight_scale_inv": metal.Zeros([]int{1}, metal.Float32),
		}
		if err := sanitizeMinistral3(c, w); err == nil || !strings.Contains(err.Error(), "FP8") {
			t.Errorf("sanitize of an FP8 checkpoint: %v, want an FP8 error", err)
		}
		return nil
	})
}

func TestMistral3TextModelTypes(t *testing.T) {
	for typ, ok := range map[string]bool{"ministral3": true, "mistral": true, "llama": true, "mistral4": false, "": false} {
		c := parseConfig(t, `{"model_type": "mistral3", "text_config": {"model_type": "`+typ+`"}}`)
		text, err := mistral3TextConfig(c)
		if err != nil {
			if typ == "" {
				continue // a text_config without model_type is no config at all
			}
			t.Fatal(err)
		}
		if text.Tie(true) {
			t.Errorf("%s: text model tied by default, want untied (mlx-lm)", typ)
		}
		if _, _, err := mistral3Text(text); (err == nil) != ok {
			t.Errorf("text model_type %q: error %v, want supported=%v", typ, err, ok)
		}
	}
}
