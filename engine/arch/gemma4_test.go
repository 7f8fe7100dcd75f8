package arch

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// The Gemma 4 fixtures exercise each of the architecture's features:
// removing one breaks the agreement with transformers.
func TestGemma4FixtureFeaturesMatter(t *testing.T) {
	mlxtest.Require(t)
	dense := repoFixture(t, "gemma4_text_h64")
	moe := repoFixture(t, "gemma4_text_moe_h96")
	load := func(t *testing.T, dir string) *Gemma4Text { return loadModel(t, dir).(*Gemma4Text) }
	t.Run("layer scalar", func(t *testing.T) {
		m := load(t, dense)
		mlxtest.Do(t, func() error {
			for _, g := range m.Layers {
				g.LayerScalar = metal.Ones([]int{1}, metal.Float32).Keep()
			}
			return nil
		})
		requireMismatch(t, m, dense, "the layer scalars")
	})
	t.Run("per-layer inputs", func(t *testing.T) {
		m := load(t, dense)
		for _, g := range m.Layers {
			g.PerLayerInputGate = nil
		}
		requireMismatch(t, m, dense, "per-layer inputs")
	})
	t.Run("K/V from the last layer of the type", func(t *testing.T) {
		m := load(t, dense)
		if m.Layers[3].Source != 2 || m.Layers[4].Source != 1 {
			t.Fatalf("sources %d, %d; want 2 (last sliding) and 1 (last full)", m.Layers[3].Source, m.Layers[4].Source)
		}
		m.Layers[3].Source = 0 // the first sliding layer instead
		requireMismatch(t, m, dense, "K/V sharing with the last layer of the type")
	})
	t.Run("value norm", func(t *testing.T) {
		m := load(t, dense)
		for _, g := range m.Layers {
			g.SelfAttn.VNorm = nil
		}
		requireMismatch(t, m, dense, "the value norm")
	})
	t.Run("proportional rope", func(t *testing.T) {
		m := load(t, dense)
		full := m.Layers[1].SelfAttn.Rope
		if full.Freqs == nil {
			t.Fatal("full layer rope has no frequencies")
		}
		m.Layers[1].SelfAttn.Rope = &layer.RoPE{Dims: full.Dims, Base: full.Base, Scale: 1, PreScale: 1}
		m.Layers[4].SelfAttn.Rope = m.Layers[1].SelfAttn.Rope
		requireMismatch(t, m, dense, "partial proportional rope (whole head rotated instead)")
	})
	t.Run("softcap", func(t *testing.T) {
		m := load(t, dense)
		m.Softcap = 0
		requireMismatch(t, m, dense, "logit soft-capping")
	})
	t.Run("experts", func(t *testing.T) {
		m := load(t, moe)
		for _, g := range m.Layers {
			g.Router = nil
		}
		requireMismatch(t, m, moe, "the MoE block")
	})
	t.Run("per-expert scale", func(t *testing.T) {
		m := load(t, moe)
		mlxtest.Do(t, func() error {
			for _, g := range m.Layers {
				g.Router.PerExpertScale = metal.Ones([]int{4}, metal.Float32).Keep()
			}
			return nil
		})
		requireMismatch(t, m, moe, "per-expert scales")
	})
}

// A gemma4 (multimodal) checkpoint holding the fixture's text model, in
// transformers' layout (model.language_model.*, with a vision tower) and in
// mlx-lm's (language_model.model.*), loads to the same logits.
func TestGemma4MultimodalWrapper(t *testing.T) {
	mlxtest.Require(t)
	src := repoFixture(t, "gemma4_text_h64")
	var text map[string]any
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &text); err != nil {
		t.Fatal(err)
	}
	vocab := text["vocab_size"]
	delete(text, "vocab_size") // the top level's, as gemma4 forces it
	for _, layout := range []struct{ name, prefix, head string }{
		{"transformers", "model.language_model.", "lm_head."},
		{"mlx-lm", "language_model.model.", "language_model.lm_head."},
	} {
		t.Run(layout.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, _ := json.Marshal(map[string]any{"model_type": "gemma4", "vocab_size": vocab, "text_config": text})
			if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			mlxtest.Do(t, func() error {
				weights, _, err := metal.LoadSafetensors(filepath.Join(src, "model.safetensors"))
				if err != nil {
					return err
				}
				out := map[string]*metal.Array{"model.vision_tower.patch.weight": metal.Zeros([]int{2, 2}, metal.Float32)}
				for name, a := range weights {
					switch {
					case strings.HasPrefix(name, "model."):
						out[layout.prefix+strings.TrimPrefix(name, "model.")] = a
					case strings.HasPrefix(name, "lm_head."):
						out[layout.head+strings.TrimPrefix(name, "lm_head.")] = a
					default:
						out[name] = a
					}
				}
				defer metal.FreeAll(append(mapValues(weights), out["model.vision_tower.patch.weight"])...)
				return metal.SaveSafetensors(filepath.Join(dir, "model.safetensors"), out, map[string]string{"format": "pt"})
			})
			m := loadModel(t, dir)
			if bad := logitsMismatches(t, m, readReference(t, src)); len(bad) > 0 {
				t.Errorf("gemma4 wrapper: %v", bad)
			}
		})
	}
}

// mapValues lists a map's arrays.
func mapValues(m map[string]*metal.Array) []*metal.Array {
	out := make([]*metal.Array, 0, len(m))
	for _, a := range m {
		out = append(out, a)
	}
	return out
}

func TestGemma4Config(t *testing.T) {
	base := `"model_type": "gemma4_text", "hidden_size": 64, "intermediate_size": 32, "num_attention_heads": 4,
		"num_key_value_heads": 2, "head_dim": 16, "vocab_size": 32, "sliding_window": 8`
	plan := func(t *testing.T, extra string) (*gemma4Plan, error) {
		t.Helper()
		c, err := parseConfig(t, "{"+base+", "+extra+"}").WithDefaults(gemma4Defaults)
		if err != nil {
			t.Fatal(err)
		}
		return readGemma4(c)
	}
	// mlx-lm's defaults: every 5th layer full with head dim 512, the last 20
	// layers sharing K/V, proportional rope over a quarter on full layers,
	// softcap 30, per-layer inputs of width 256.
	p, err := plan(t, `"num_hidden_layers": 25`)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.layers[4]; g.sliding || g.headDim != 512 || g.source != 4 || g.mlp != 32 {
		t.Errorf("layer 4: %+v, want full, head dim 512, its own K/V, MLP 32", g)
	}
	if g := p.layers[5]; !g.sliding || g.source != 3 || g.mlp != 64 {
		t.Errorf("layer 5: %+v, want sliding, K/V of layer 3, double-wide MLP", g)
	}
	if g := p.layers[24]; g.source != 4 {
		t.Errorf("layer 24: K/V of layer %d, want 4", g.source)
	}
	if r := p.rope["full_attention"]; r.Type != "proportional" || r.PartialRotaryFactor != 0.25 || r.Theta != 1e6 {
		t.Errorf("full rope %+v", r)
	}
	if p.softcap != 30 || p.perLayer != 256 {
		t.Errorf("softcap %g, per-layer width %d; want 30, 256", p.softcap, p.perLayer)
	}
	// transformers 5.15+: per_layer_config alone sets the full layer's shape.
	p, err = plan(t, `"num_hidden_layers": 2, "num_kv_shared_layers": 0, "layer_types": ["sliding_attention", "full_attention"],
		"attention_k_eq_v": true, "final_logit_softcapping": null,
		"per_layer_config": {"1": {"head_dim": 32, "num_key_value_heads": 1}}`)
	if err != nil {
		t.Fatal(err)
	}
	if g := p.layers[1]; g.headDim != 32 || g.nKVHeads != 1 || !g.kEqV || p.softcap != 0 {
		t.Errorf("layer 1: %+v, softcap %g; want head dim 32, 1 KV head, k = v, no softcap", g, p.softcap)
	}
	two := `"num_hidden_layers": 2, "layer_types": ["sliding_attention", "full_attention"], `
	for _, tt := range []struct{ extra, field string }{
		{two + `"num_kv_shared_layers": 2`, "num_kv_shared_layers"},
		{two + `"num_kv_shared_layers": 1`, "num_kv_shared_layers"}, // no earlier full layer
		{two + `"num_kv_shared_layers": 0, "global_head_dim": 64, "per_layer_config": {"1": {"head_dim": 32}}`, "per_layer_config.1"},
		{two + `"num_kv_shared_layers": 0, "hidden_activation": "gelu"`, "hidden_activation"},
		{two + `"num_kv_shared_layers": 0, "attention_bias": true`, "attention_bias"},
		{two + `"num_kv_shared_layers": 0, "use_bidirectional_attention": "all"`, "use_bidirectional_attention"},
		{two + `"num_kv_shared_layers": 0, "enable_moe_block": true, "num_experts": 2, "top_k_experts": 3, "moe_intermediate_size": 8`, "enable_moe_block"},
		{`"num_hidden_layers": 2, "num_kv_shared_layers": 0, "layer_types": ["sliding_attention", "chunked_attention"]`, "layer_types"},
		{two + `"num_kv_shared_layers": 0, "global_head_dim": 32, "num_global_key_value_heads": 3, "attention_k_eq_v": true`, "per_layer_config.1"},
	} {
		if _, err := plan(t, tt.extra); err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error %v, want one naming %s", tt.extra, err, tt.field)
		}
	}
}

// mlxLMCacheBytes runs the pieces of a token sequence through mlx_lm's
// model of dir, one call each with its make_prompt_cache caches, and
// returns each cache's nbytes (mlx_lm gives KV-shared layers no cache).
const mlxLMCacheBytes = `
import json, pathlib, sys
import mlx.core as mx
from mlx_lm.utils import load_model
from mlx_lm.models.cache import make_prompt_cache
model, _ = load_model(pathlib.Path(sys.argv[1]))
cache = make_prompt_cache(model)
for piece in json.loads(sys.argv[2]):
    model(mx.array([piece]), cache=cache)
mx.eval([c.state for c in cache])
print(json.dumps([c.nbytes for c in cache]))
`

// A KV-shared layer keeps no keys and values of its own: after a chunked
// prefill and a few decode steps, the caches of the layers that compute
// them hold what mlx_lm's caches hold, layer by layer, the shared layers
// hold nothing (before, each held a copy of its source's), and every
// step's logits match transformers' over the whole prompt.
func TestGemma4SharedLayersHoldNoKV(t *testing.T) {
	mlxtest.Require(t)
	py := testutil.Python(t)
	if py == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with mlx_lm (run build/setup.sh py or set LMX_PYTHON)")
	}
	dir := repoFixture(t, "gemma4_text_h64")
	m := loadModel(t, dir).(*Gemma4Text)
	ref := readReference(t, dir)
	ids, want := ref.ints["input_ids_2"], ref.floats["logits_2"]
	vocab := len(want) / len(ids)
	// Chunks of 7 (wider than the window of 6), then one token at a time.
	pieces := [][]int32{ids[:7], ids[7:14], ids[14:20], ids[20:21], ids[21:22], ids[22:]}

	caches, err := newCaches(t, m, CacheOptions{})
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	for i, g := range m.Layers {
		if _, isShared := caches[i].(*cache.Shared); isShared != (g.Source != i) {
			t.Fatalf("layer %d (K/V of layer %d) has a %T", i, g.Source, caches[i])
		}
		if g.Source != i {
			shared++
		}
	}
	if shared == 0 {
		t.Fatal("the fixture has no KV-shared layer")
	}
	start := 0
	for _, p := range pieces {
		got := logitsOf(t, m, p, caches)
		end := start + len(p)
		if e := relErr(got, want[start*vocab:end*vocab]); e > 1e-4 {
			t.Errorf("positions [%d, %d): relative error %.3g > 1e-4", start, end, e)
		}
		start = end
	}

	var own []int
	total := 0
	mlxtest.Do(t, func() error {
		for i, c := range caches {
			if m.Layers[i].Source == i {
				own = append(own, c.Bytes())
			} else if c.Bytes() != 0 {
				t.Errorf("KV-shared layer %d holds %d bytes", i, c.Bytes())
			}
			total += c.Bytes()
		}
		return nil
	})
	arg, _ := json.Marshal(pieces)
	out, err := exec.Command(py, "-c", mlxLMCacheBytes, dir, string(arg)).CombinedOutput()
	if err != nil {
		t.Fatalf("mlx_lm: %v\n%s", err, out)
	}
	var theirs []int
	if err := json.Unmarshal(out, &theirs); err != nil {
		t.Fatalf("mlx_lm printed %q: %v", out, err)
	}
	t.Logf("after %d tokens: %d bytes of cache over %d layers (%d KV-shared); mlx_lm %v", len(ids), total, len(caches), shared, theirs)
	if !slices.Equal(own, theirs) || total != sum(theirs) {
		t.Errorf("cache bytes of the layers with their own K/V %v (all layers %d), mlx_lm's caches %v (%d)", own, total, theirs, sum(theirs))
	}
}

// sum adds xs.
func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}
