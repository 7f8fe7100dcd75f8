package chat

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// goldenRecord is one line of fixtures/goldens/chat_<name>.jsonl, rendered by
// transformers' apply_chat_template.
type goldenRecord struct {
	Name                string          `json:"name"`
	Messages            json.RawMessage `json:"messages"`
	Tools               json.RawMessage `json:"tools"`
	AddGenerationPrompt bool            `json:"add_generation_prompt"`
	TemplateKwargs      map[string]any  `json:"template_kwargs"`
	Rendered            *string         `json:"rendered"`
	Error               *string         `json:"error"`
}

func readGoldens(t *testing.T, path string) []goldenRecord {
	t.Helper()
	return testutil.ReadJSONL[goldenRecord](t, path)
}

// TestGoldens renders every record of every chat golden file with the
// template of the tokenizer folder its file name names.
func TestGoldens(t *testing.T) {
	fx := testutil.Fixtures(t)
	files, err := filepath.Glob(filepath.Join(fx, "goldens", "chat_*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no chat goldens in %s: %v", fx, err)
	}
	passed, total := 0, 0
	for _, file := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "chat_"), ".jsonl")
		tmpl, err := LoadTemplate(filepath.Join(fx, "tokenizers", name))
		if err != nil {
			t.Fatalf("load %s: %v", name, err)
		}
		for _, rec := range readGoldens(t, file) {
			total++
			t.Run(name+"/"+rec.Name, func(t *testing.T) {
				if checkGolden(t, tmpl, rec) {
					passed++
				}
			})
		}
	}
	t.Logf("chat goldens: %d/%d records match", passed, total)
}

func checkGolden(t *testing.T, tmpl *Template, rec goldenRecord) bool {
	t.Helper()
	var tools any
	if string(rec.Tools) != "null" && len(rec.Tools) > 0 {
		tools = rec.Tools
	}
	got, err := tmpl.Render(rec.Messages, tools, rec.AddGenerationPrompt, rec.TemplateKwargs)
	if rec.Error != nil {
		if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), *rec.Error) {
			t.Errorf("want template error %q, got %q, %v", *rec.Error, got, err)
			return false
		}
		return true
	}
	if err != nil {
		t.Errorf("render: %v", err)
		return false
	}
	if got != *rec.Rendered {
		t.Errorf("rendered mismatch\n got: %q\nwant: %q", got, *rec.Rendered)
		return false
	}
	return true
}
