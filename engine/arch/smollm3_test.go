package arch

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// The NoPE layers of both SmolLM3 fixtures matter: giving them the rope of
// the other layers breaks the agreement with transformers.
func TestSmolLM3NoPELayersMatter(t *testing.T) {
	mlxtest.Require(t)
	for _, name := range []string{"smollm3_h80", "smollm3_h64"} {
		t.Run(name, func(t *testing.T) {
			dir := repoFixture(t, name)
			d := loadModel(t, dir).(*Decoder)
			var rope = d.Layers[slices.IndexFunc(d.Layers, func(b *Block) bool { return b.SelfAttn.Rope != nil })].SelfAttn.Rope
			nope := 0
			for _, b := range d.Layers {
				if b.SelfAttn.Rope == nil {
					b.SelfAttn.Rope = rope
					nope++
				}
			}
			if nope == 0 {
				t.Fatal("no NoPE layer loaded")
			}
			requireMismatch(t, d, dir, "NoPE layers")
		})
	}
}

func TestSmolLM3UseRope(t *testing.T) {
	base := `"model_type": "smollm3", "num_hidden_layers": %d`
	for _, tt := range []struct {
		name, extra string
		layers      int
		want        []bool
		err         string
	}{
		{"default interval 4", "", 8, []bool{true, true, true, false, true, true, true, false}, ""},
		{"interval 2", `, "no_rope_layer_interval": 2`, 4, []bool{true, false, true, false}, ""},
		{"list wins", `, "no_rope_layer_interval": 2, "no_rope_layers": [0, 0, 1]`, 3, []bool{false, false, true}, ""},
		{"longer list", `, "no_rope_layers": [1, 0, 1, 1]`, 2, []bool{true, false}, ""},
		{"short list", `, "no_rope_layers": [1, 0]`, 3, nil, "no_rope_layers"},
		{"bad entry", `, "no_rope_layers": [1, 2]`, 2, nil, "no_rope_layers"},
		{"zero interval", `, "no_rope_layer_interval": 0`, 2, nil, "no_rope_layer_interval"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := parseConfig(t, "{"+fmt.Sprintf(base, tt.layers)+tt.extra+"}")
			var args smolLM3Args
			if err := c.Decode(&args); err != nil {
				t.Fatal(err)
			}
			got, err := smolLM3UseRope(c, args)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one naming %s", err, tt.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// Sliding-window SmolLM3 layers (use_sliding_window with sliding_attention
// layer types), which transformers windows and mlx-lm does not, are a load
// error naming the field; without use_sliding_window the layer types are
// ignored, as in both.
func TestSmolLM3SlidingWindowRefused(t *testing.T) {
	mlxtest.Require(t)
	const js = `{"model_type": "smollm3", "hidden_size": 8, "num_hidden_layers": 2, "intermediate_size": 8,
		"num_attention_heads": 2, "vocab_size": 8, "sliding_window": 4, "use_sliding_window": %v,
		"layer_types": ["sliding_attention", "full_attention"]}`
	mlxtest.Do(t, func() error {
		_, err := Build(parseConfig(t, fmt.Sprintf(js, true)), map[string]*metal.Array{})
		if err == nil || !strings.Contains(err.Error(), "use_sliding_window") {
			t.Errorf("use_sliding_window true: %v, want an error naming it", err)
		}
		_, err = Build(parseConfig(t, fmt.Sprintf(js, false)), map[string]*metal.Array{})
		if err == nil || strings.Contains(err.Error(), "use_sliding_window") {
			t.Errorf("use_sliding_window false: %v, want only missing weights", err)
		}
		return nil
	})
}
