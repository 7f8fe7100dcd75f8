package tokenizer

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeVariant copies stories260k's tokenizer into a temp folder with edit
// applied to its parsed tokenizer.json.
func writeVariant(t *testing.T, edit func(map[string]any)) string {
	t.Helper()
	src := tokenizerDir(t, "stories260k")
	data, err := os.ReadFile(filepath.Join(src, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(src, "tokenizer_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadRejectsUnsupportedComponents(t *testing.T) {
	cases := []struct {
		name, field string
		value       any
		want        string
	}{
		{"normalizer", "normalizer", map[string]any{"type": "BertNormalizer"}, "BertNormalizer"},
		{"nested normalizer", "normalizer", map[string]any{"type": "Sequence",
			"normalizers": []any{map[string]any{"type": "Precompiled"}}}, "Precompiled"},
		{"pre_tokenizer", "pre_tokenizer", map[string]any{"type": "Whitespace"}, "Whitespace"},
		{"regex", "pre_tokenizer", map[string]any{"type": "Split", "behavior": "Isolated",
			"pattern": map[string]any{"Regex": `\s+(?=x)`}}, `\\s+(?=x)`},
		{"post_processor", "post_processor", map[string]any{"type": "RobertaProcessing"}, "RobertaProcessing"},
		{"decoder", "decoder", map[string]any{"type": "WordPiece"}, "WordPiece"},
		{"model", "model", map[string]any{"type": "Unigram", "vocab": map[string]any{"a": 0}}, "Unigram"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeVariant(t, func(doc map[string]any) { doc[c.field] = c.value })
			_, err := Load(dir)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Load: %v, want ErrUnsupported", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %q", err, c.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(empty dir): %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "tokenizer.json")) {
		t.Errorf("error %q does not name the missing file", err)
	}
}

func TestLoadWithoutConfig(t *testing.T) {
	dir := writeVariant(t, func(map[string]any) {})
	if err := os.Remove(filepath.Join(dir, "tokenizer_config.json")); err != nil {
		t.Fatal(err)
	}
	tk, err := Load(dir)
	if err != nil {
		t.Fatalf("Load without tokenizer_config.json: %v", err)
	}
	if _, ok := tk.BOS(); ok {
		t.Error("BOS set without a config")
	}
	if got, want := tk.Decode(tk.Encode("Once upon a time", false), false), "Once upon a time"; got != want {
		t.Errorf("round trip %q, want %q", got, want)
	}
}

// TestLoadRejectsBadIDs: a tokenizer.json with an id that cannot index a
// token table is an error naming the token, not a panic or a huge allocation.
func TestLoadRejectsBadIDs(t *testing.T) {
	cases := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"negative added id", func(doc map[string]any) {
			doc["added_tokens"] = []any{map[string]any{"id": -5, "content": "<x>", "special": true}}
		}, `added token "<x>"`},
		{"huge added id", func(doc map[string]any) {
			doc["added_tokens"] = []any{map[string]any{"id": 2_000_000_000, "content": "<y>"}}
		}, `added token "<y>"`},
		{"negative vocab id", func(doc map[string]any) {
			doc["model"].(map[string]any)["vocab"].(map[string]any)["zzz"] = -3
		}, `vocab token "zzz"`},
		{"template id outside the vocabulary", func(doc map[string]any) {
			doc["post_processor"] = map[string]any{"type": "TemplateProcessing",
				"single":         []any{map[string]any{"SpecialToken": map[string]any{"id": "<s>"}}, map[string]any{"Sequence": map[string]any{"id": "A"}}},
				"special_tokens": map[string]any{"<s>": map[string]any{"ids": []any{-1}}}}
		}, `special token "<s>" has id -1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeVariant(t, c.edit))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: %v, want an error naming %s", err, c.want)
			}
		})
	}
}
