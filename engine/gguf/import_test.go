package gguf

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// fixtureGGUF writes a GGUF of the shared fixture model name as llama.cpp's
// converter would (testdata/fixture_gguf.py), with the given tensor types.
func fixtureGGUF(t *testing.T, name, types string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".gguf")
	runPy(t, "fixture_gguf.py", filepath.Join(testutil.Fixtures(t), "models", name), out, types)
	return out
}

// importTo imports path into a fresh folder and returns it.
func importTo(t *testing.T, path string, opts Options) string {
	t.Helper()
	mlxtest.Require(t)
	dir := filepath.Join(t.TempDir(), "model")
	if err := Import(context.Background(), path, dir, opts); err != nil {
		t.Fatalf("import %s: %v", filepath.Base(path), err)
	}
	return dir
}

// referenceLogits reads a fixture's prompts and transformers' logits.
func referenceLogits(t *testing.T, name string) (ids [][]int32, logits [][]float32) {
	t.Helper()
	path := filepath.Join(testutil.Fixtures(t), "models", name, "reference.safetensors")
	mlxtest.Do(t, func() error {
		arrays, _, err := metal.LoadSafetensors(path)
		if err != nil {
			return err
		}
		for i := range 3 {
			id, err := arrays[fmt.Sprintf("input_ids_%d", i)].Int32s()
			if err != nil {
				return err
			}
			l, err := metal.Astype(arrays[fmt.Sprintf("logits_%d", i)], metal.Float32).Float32s()
			if err != nil {
				return err
			}
			ids, logits = append(ids, id), append(logits, l)
		}
		return nil
	})
	return ids, logits
}

// modelLogits loads the folder with the engine's loader and returns the
// logits [L, V] of one cacheless pass per prompt.
func modelLogits(t *testing.T, dir string, prompts [][]int32) [][]float32 {
	t.Helper()
	var out [][]float32
	mlxtest.Do(t, func() error {
		m, _, err := arch.Load(dir)
		if err != nil {
			return err
		}
		defer arch.FreeModel(m)
		for _, ids := range prompts {
			var l []float32
			metal.Scope(func() {
				x := metal.FromInt32(ids, 1, len(ids))
				l, err = metal.Astype(m.Logits(m.Hidden(x, nil)), metal.Float32).Float32s()
			})
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return nil
	})
	return out
}

// readConfig decodes a written config.json.
func readConfig(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestImportMatchesTransformers converts every fixture family to an F32
// GGUF the way llama.cpp does (Q/K permutation, Gemma's w + 1 norms, fused
// Phi-3 tensors, Llama 3 rope_freqs), imports it, and checks that the
// engine's logits equal transformers' on the original checkpoint: every
// change llama.cpp made is undone, and the config says what the
// checkpoint's did.
func TestImportMatchesTransformers(t *testing.T) {
	for _, tt := range []struct{ fixture, modelType string }{
		{"llama", "llama"}, {"llama3_rope", "llama"}, {"mistral", "llama"}, {"qwen2", "qwen2"},
		{"qwen3", "qwen3"}, {"gemma3_text", "gemma3_text"}, {"phi3", "phi3"},
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			dir := importTo(t, fixtureGGUF(t, tt.fixture, "F32"), Options{})
			if cfg := readConfig(t, dir); cfg["model_type"] != tt.modelType || cfg["quantization"] != nil {
				t.Fatalf("config.json: model_type %v, quantization %v; want %s, none", cfg["model_type"], cfg["quantization"], tt.modelType)
			}
			ids, want := referenceLogits(t, tt.fixture)
			got := modelLogits(t, dir, ids)
			for i := range ids {
				if e := relErr(t, fmt.Sprintf("prompt %d", i), got[i], want[i]); e > 1e-4 {
					t.Errorf("prompt %d (%d tokens): relative error %.2g vs transformers, want ≤ 1e-4", i, len(ids[i]), e)
				}
			}
		})
	}
}

// TestImportShards splits the weights over several safetensors files when
// they exceed Options.ShardBytes, with mlx-lm's names and index, and the
// model computes the same logits as from one file.
func TestImportShards(t *testing.T) {
	path := fixtureGGUF(t, "llama", "Q8_0")
	one, many := importTo(t, path, Options{}), importTo(t, path, Options{ShardBytes: 40 << 10})
	hs, err := model.WeightHeaders(many)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) < 3 || filepath.Base(hs[0].Path) != fmt.Sprintf("model-00001-of-%05d.safetensors", len(hs)) {
		t.Fatalf("%d shards, first %s; want several, named as mlx-lm names them", len(hs), hs[0].Path)
	}
	ids, _ := referenceLogits(t, "llama")
	got, want := modelLogits(t, many, ids), modelLogits(t, one, ids)
	for i := range ids {
		sameBits(t, fmt.Sprintf("prompt %d", i), got[i], want[i])
	}
}
