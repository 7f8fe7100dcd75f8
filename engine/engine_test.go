package engine

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// referenceInts reads int32 tensors from a fixture's reference.safetensors.
func referenceInts(t *testing.T, dir string, names ...string) [][]int32 {
	out := make([][]int32, len(names))
	err := metal.Do(context.Background(), func() error {
		arrays, _, err := metal.LoadSafetensors(filepath.Join(dir, "reference.safetensors"))
		for i, n := range names {
			if err == nil {
				out[i], err = arrays[n].Int32s()
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadGenerateClose(t *testing.T) {
	mlxtest.Require(t)
	ctx := context.Background()
	dir := filepath.Join(testutil.Fixtures(t), "models", "stories260k")
	before, err := MemoryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	if info.ModelType != "llama" || info.VocabSize != 512 || info.NumLayers != 5 || !slices.Equal(info.EOSTokenIDs, []int32{2}) || info.WeightBytes <= 0 {
		t.Errorf("info %+v", info)
	}
	want := referenceInts(t, dir, "greedy_from_bos")[0]
	res, err := m.Generate(ctx, Request{Request: generate.Request{Prompt: []int32{1}, MaxTokens: len(want)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if eos := slices.Index(want, 2); eos >= 0 {
		want = want[:eos]
	}
	if !slices.Equal(res.Tokens, want) {
		t.Errorf("got %v\nwant %v", res.Tokens, want)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Generate(ctx, Request{Request: generate.Request{Prompt: []int32{1}, MaxTokens: 1}}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("generate after close: %v", err)
	}
	after, err := MemoryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Active != before.Active {
		t.Errorf("active memory %d after close, %d before load", after.Active, before.Active)
	}
}

func TestLoadErrors(t *testing.T) {
	mlxtest.Require(t)
	_, err := Load(context.Background(), filepath.Join(t.TempDir(), "nope"), Options{})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"rwkv9"}`), 0o644)
	if _, err := Load(context.Background(), dir, Options{}); !errors.Is(err, arch.ErrUnsupportedArch) {
		t.Errorf("unknown type: %v", err)
	}
}

// TestWrapperSizesFromTextConfig: a multimodal wrapper (mistral3) whose
// config.json keeps the language model's sizes only under text_config loads
// with its real vocabulary, hidden size and context, and generates its
// reference tokens (a folder like that was refused: "vocabulary 0").
func TestWrapperSizesFromTextConfig(t *testing.T) {
	mlxtest.Require(t)
	src := filepath.Join(testutil.RepoRoot(t), "engine", "arch", "testdata", "models", "mistral3_h64")
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	text := cfg["text_config"].(map[string]any)
	delete(cfg, "vocab_size")
	os.Remove(filepath.Join(dir, "config.json"))
	out, _ := json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	info := m.Info()
	if info.VocabSize != int(text["vocab_size"].(float64)) || info.HiddenSize != int(text["hidden_size"].(float64)) ||
		info.ContextLength != int(text["max_position_embeddings"].(float64)) {
		t.Fatalf("info %+v, want the sizes of text_config %v", info, text)
	}
	var ref map[string][]int32
	mlxtest.Do(t, func() error {
		arrays, _, err := metal.LoadSafetensors(filepath.Join(src, "reference.safetensors"))
		if err != nil {
			return err
		}
		ref = map[string][]int32{}
		for _, k := range []string{"greedy_prompt", "greedy_tokens"} {
			if ref[k], err = arrays[k].Int32s(); err != nil {
				return err
			}
		}
		return nil
	})
	want := ref["greedy_tokens"]
	res, err := m.Generate(context.Background(), Request{Request: generate.Request{Prompt: ref["greedy_prompt"], MaxTokens: len(want)}, IgnoreEOS: true}, nil)
	if err != nil || !slices.Equal(res.Tokens, want) {
		t.Fatalf("greedy %v (%v), want %v", res, err, want)
	}
}
