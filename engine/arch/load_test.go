package arch

import (
	"errors"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/layer"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// copyModel copies a fixture model's config and weights into a temp folder,
// letting edit change the config text and cut truncate bytes off the weights.
func copyModel(t *testing.T, src string, edit func(string) string, cut int) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		cfg = []byte(edit(string(cfg)))
	}
	weights, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "model.safetensors"), weights[:len(weights)-cut], 0o644))
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadFailuresFreeEverything(t *testing.T) {
	mlxtest.Require(t)
	src := filepath.Join(fixtureModels(t)[0], "..", "qwen3_moe")
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		want error
		text string
	}{
		{"truncated weights", func(t *testing.T) string { return copyModel(t, src, nil, 1000) }, model.ErrCorruptWeights, "truncated"},
		{"missing shard", func(t *testing.T) string {
			dir := copyModel(t, src, nil, 0)
			index := `{"weight_map":{"lm_head.weight":"model-00002-of-00002.safetensors"}}`
			must(t, os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), []byte(index), 0o644))
			return dir
		}, model.ErrMissingShard, "model-00002-of-00002.safetensors"},
		{"shape mismatch", func(t *testing.T) string {
			return copyModel(t, src, func(s string) string {
				return strings.Replace(s, `"moe_intermediate_size": 32`, `"moe_intermediate_size": 48`, 1)
			}, 0)
		}, layer.ErrShapeMismatch, "switch_mlp"},
		{"missing tensor", func(t *testing.T) string {
			return copyModel(t, src, func(s string) string {
				return strings.Replace(s, `"num_hidden_layers": 2`, `"num_hidden_layers": 3`, 1)
			}, 0)
		}, layer.ErrMissingTensor, "model.layers.2"},
		{"unknown architecture", func(t *testing.T) string {
			return copyModel(t, src, func(s string) string {
				return strings.Replace(s, `"model_type": "qwen3_moe"`, `"model_type": "mamba9"`, 1)
			}, 0)
		}, ErrUnsupportedArch, "qwen3_moe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			mlxtest.Do(t, func() error {
				metal.ClearCache()
				before := metal.ActiveMemory()
				_, _, err := Load(dir)
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
					t.Errorf("err %v: want %v mentioning %q", err, tt.want, tt.text)
				}
				if after := metal.ActiveMemory(); after != before {
					t.Errorf("active memory %d after the failed load, %d before", after, before)
				}
				return nil
			})
		})
	}
}

func TestLoadFreesOnUnload(t *testing.T) {
	mlxtest.Require(t)
	dir := filepath.Join(fixtureModels(t)[0], "..", "llama")
	mlxtest.Do(t, func() error {
		before := metal.ActiveMemory()
		m, _, err := Load(dir)
		if err != nil {
			return err
		}
		if metal.ActiveMemory() <= before {
			t.Errorf("loading did not allocate (active %d, before %d)", metal.ActiveMemory(), before)
		}
		FreeModel(m)
		if after := metal.ActiveMemory(); after != before {
			t.Errorf("active memory %d after unload, %d before", after, before)
		}
		return nil
	})
}
