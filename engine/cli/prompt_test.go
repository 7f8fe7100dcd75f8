package cli

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/engine/tokenizer"
	"github.com/lmx-app/lmx/internal/testutil"
)

// singleTurn reads the golden record "single" (one user message, generation
// prompt added) of a tokenizer's chat goldens.
func singleTurn(t *testing.T, name string) (content, rendered string) {
	type record struct {
		Name     string `json:"name"`
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
		Rendered string `json:"rendered"`
	}
	path := filepath.Join(testutil.Fixtures(t), "goldens", "chat_"+name+".jsonl")
	for _, r := range testutil.ReadJSONL[record](t, path) {
		if r.Name == "single" {
			return r.Messages[0].Content, r.Rendered
		}
	}
	t.Fatalf("no record \"single\" in chat_%s.jsonl", name)
	return "", ""
}

func TestPromptIDsWithChatTemplate(t *testing.T) {
	for _, name := range []string{"qwen3", "llama3_1"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(testutil.Fixtures(t), "tokenizers", name)
			tok, err := tokenizer.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			content, rendered := singleTurn(t, name)
			ids, err := promptIDs(tok, dir, content, true)
			if err != nil {
				t.Fatal(err)
			}
			// Decoding without skipping specials shows every token,
			// so a second BOS or a special token split into text shows.
			if got := tok.Decode(ids, false); got != rendered {
				t.Errorf("chat prompt decodes to\n%q\nwant the template's\n%q", got, rendered)
			}
			for _, id := range ids {
				if tok.Token(id) == "" {
					t.Errorf("unknown id %d in the prompt", id)
				}
			}
			plain, err := promptIDs(tok, dir, content, false)
			if err != nil {
				t.Fatal(err)
			}
			if want := tok.Encode(content, true); !slices.Equal(plain, want) {
				t.Errorf("plain prompt ids %v, want encode with special tokens %v", plain, want)
			}
		})
	}
}
