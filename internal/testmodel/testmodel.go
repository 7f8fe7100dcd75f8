// Package testmodel prepares real model folders for end-to-end tests: the
// stories260k fixture given a ChatML chat template (a real trained model,
// tiny and fast, whose answers are stories), the demo chat model, and Gemma
// 3 270M.
package testmodel

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/engine/gguf"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
)

// chatML is a plain ChatML template (the family SmolLM2 and Qwen use).
const chatML = `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

// StoriesChat copies the stories260k fixture into dir/name and gives it a
// ChatML chat template, so chat requests run on a real model in
// milliseconds. It returns the folder.
func StoriesChat(t testing.TB, dir, name string) string {
	t.Helper()
	src := filepath.Join(testutil.Fixtures(t), "models", "stories260k")
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(src, "tokenizer_config.json"))
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	cfg["chat_template"] = chatML
	if b, err = json.MarshalIndent(cfg, "", "  "); err == nil {
		err = os.WriteFile(filepath.Join(dst, "tokenizer_config.json"), b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// Demo returns the demo chat model's folder: SmolLM2-135M-Instruct, imported
// from its GGUF (testutil.DemoGGUF) with the project's own importer into a
// cache shared by the test packages (keyed by the file's sha256 and
// gguf.ImportVersion). Loading it needs the MLX runtime.
func Demo(t testing.TB) string {
	t.Helper()
	mlxtest.Require(t)
	return imported(t, testutil.DemoGGUF(t), "the demo model")
}

// Gemma3 returns the folder of Gemma 3 270M (testutil.Gemma3GGUF: only
// with LMX_TEST_GEMMA3=1), imported into the same cache as Demo. The GGUF
// has no chat template (a base model).
func Gemma3(t testing.TB) string {
	t.Helper()
	mlxtest.Require(t)
	return imported(t, testutil.Gemma3GGUF(t), "Gemma 3 270M")
}

// imported imports a GGUF once into the cache the test packages share.
func imported(t testing.TB, path, what string) string {
	t.Helper()
	dir, err := gguf.Cached(context.Background(), path, filepath.Join(os.TempDir(), "lmx-test-gguf"))
	if err != nil {
		t.Fatalf("import %s: %v", what, err)
	}
	return dir
}
