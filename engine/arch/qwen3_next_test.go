package arch

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// rewriteFixture copies a fixture folder with its config edited and each
// weight renamed (rename returns "" to drop one) and zero [4, 4] tensors
// named extra added, so a layout variant of a
// checkpoint can be checked against the same reference.
func rewriteFixture(t *testing.T, src string, editCfg func(map[string]any) map[string]any, rename func(string) string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if data, err = json.Marshal(editCfg(cfg)); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
	mlxtest.Do(t, func() error {
		arrays, _, err := metal.LoadSafetensors(filepath.Join(src, "model.safetensors"))
		if err != nil {
			return err
		}
		out := map[string]*metal.Array{}
		for k, a := range arrays {
			if n := rename(k); n != "" {
				out[n] = a
			}
		}
		for _, name := range extra {
			out[name] = metal.Zeros([]int{4, 4}, metal.Float32)
		}
		return metal.SaveSafetensors(filepath.Join(dir, "model.safetensors"), out, map[string]string{"format": "pt"})
	})
	return dir
}

// A Qwen3.5 vision-language checkpoint (model_type qwen3_5, the text
// model's config under text_config, its weights under
// model.language_model., a vision tower beside it) gives the text model's
// logits.
func TestQwen35VisionLanguageLayout(t *testing.T) {
	mlxtest.Require(t)
	src := repoFixture(t, "qwen3_5_h64")
	dir := rewriteFixture(t, src, func(c map[string]any) map[string]any {
		return map[string]any{"model_type": "qwen3_5", "text_config": c, "vision_config": map[string]any{"depth": 1}}
	}, func(k string) string {
		return strings.Replace(k, "model.", "model.language_model.", 1)
	}, "model.visual.patch_embed.proj.weight")
	checkLogits(t, loadModel(t, dir), readReference(t, src))
}

// A checkpoint already in MLX's layout (conv1d weights [C, K, 1], plain
// norm weights: what mlx-community ships) is not converted a second time.
func TestQwen3NextMLXLayoutIsKept(t *testing.T) {
	mlxtest.Require(t)
	src := repoFixture(t, "qwen3_next_h64_dense")
	var mlxDir string
	mlxtest.Do(t, func() error {
		cfg, err := model.ReadConfig(src)
		if err != nil {
			return err
		}
		arrays, _, err := metal.LoadSafetensors(filepath.Join(src, "model.safetensors"))
		if err != nil {
			return err
		}
		if err := sanitizeQwen3Next(cfg, arrays); err != nil {
			return err
		}
		mlxDir = t.TempDir()
		data, err := os.ReadFile(filepath.Join(src, "config.json"))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(mlxDir, "config.json"), data, 0o644); err != nil {
			return err
		}
		return metal.SaveSafetensors(filepath.Join(mlxDir, "model.safetensors"), arrays, map[string]string{"format": "mlx"})
	})
	checkLogits(t, loadModel(t, mlxDir), readReference(t, src))
}

// Configs the hybrids cannot run are load errors that name the field.
func TestHybridConfigErrors(t *testing.T) {
	mlxtest.Require(t)
	tests := []struct {
		fixture, field string
		edit           func(map[string]any)
	}{
		{"lfm2_h80", "layer_types", func(c map[string]any) { c["layer_types"] = []string{"conv", "mamba", "conv", "conv"} }},
		{"lfm2_h80", "conv_L_cache", func(c map[string]any) { c["conv_L_cache"] = 0 }},
		{"lfm2_h80", "block_dim", func(c map[string]any) { c["block_dim"] = 64 }},
		{"qwen3_next_h72", "layer_types", func(c map[string]any) {
			c["layer_types"] = []string{"linear_attention", "sliding_attention", "linear_attention", "full_attention"}
		}},
		{"qwen3_next_h72", "linear_num_key_heads", func(c map[string]any) { c["linear_num_key_heads"] = 3 }},
		{"qwen3_next_h72", "intermediate_size", func(c map[string]any) {
			delete(c, "intermediate_size") // a dense layer needs it
			c["mlp_only_layers"] = []int{0}
		}},
		{"qwen3_5_h64", "partial_rotary_factor", func(c map[string]any) {
			c["rope_parameters"].(map[string]any)["partial_rotary_factor"] = 0.3
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture+"/"+tc.field, func(t *testing.T) {
			dir := rewriteFixture(t, repoFixture(t, tc.fixture), func(c map[string]any) map[string]any { tc.edit(c); return c }, func(k string) string { return k })
			var err error
			mlxtest.Do(t, func() error {
				var m Model
				if m, _, err = Load(dir); err == nil {
					FreeModel(m)
				}
				return nil
			})
			if !errors.Is(err, model.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("load error %v, want an invalid-config error naming %q", err, tc.field)
			}
		})
	}
}

// TestHybridAllExpertsNeedNoDenseWidth loads a Qwen3-Next whose every layer
// is a mixture of experts without intermediate_size in its config (as
// Qwen3.5-35B-A3B's config.json is): the width of a dense MLP no layer has
// must not be required, and the model is the same.
func TestHybridAllExpertsNeedNoDenseWidth(t *testing.T) {
	mlxtest.Require(t)
	src := repoFixture(t, "qwen3_next_h72")
	dir := rewriteFixture(t, src, func(c map[string]any) map[string]any {
		if _, ok := c["intermediate_size"]; !ok {
			t.Fatal("the fixture has no intermediate_size to remove")
		}
		delete(c, "intermediate_size")
		return c
	}, func(k string) string { return k })
	checkLogits(t, loadModel(t, dir), readReference(t, src))
}
