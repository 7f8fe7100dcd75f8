package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestFixtureSpecialTokens(t *testing.T) {
	cases := []struct {
		name, bos, eos string
		template       string // a fragment of the chat template; "" for none
	}{
		{"qwen3", "", "<|im_end|>", "<|im_start|>"},
		{"llama3_1", "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>"},
		{"gemma3", "<bos>", "<end_of_turn>", "<start_of_turn>"},
		{"llama2", "<s>", "</s>", ""},
		{"stories260k", "<s>", "</s>", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := loadNamed(t, c.name)
			checkSpecial(t, tk, "BOS", c.bos, tk.BOS)
			checkSpecial(t, tk, "EOS", c.eos, tk.EOS)
			if got := tk.Config().ChatTemplate; c.template == "" && got != "" || !strings.Contains(got, c.template) {
				t.Errorf("chat template %.60q does not fit %q", got, c.template)
			}
			if id, ok := tk.EOS(); ok && (!tk.IsSpecial(id) || tk.Decode([]int32{id}, true) != "") {
				t.Errorf("EOS %d is not a special token skipped by Decode", id)
			}
		})
	}
}

func checkSpecial(t *testing.T, tk *Tokenizer, what, want string, get func() (int32, bool)) {
	t.Helper()
	id, ok := get()
	if want == "" {
		if ok {
			t.Errorf("%s = %d, want none", what, id)
		}
		return
	}
	if !ok || tk.Token(id) != want {
		t.Errorf("%s = %d (%q), want %q", what, id, tk.Token(id), want)
	}
	if back, _ := tk.TokenID(want); back != id {
		t.Errorf("TokenID(%q) = %d, want %d", want, back, id)
	}
}

func TestConfigForms(t *testing.T) {
	dir := writeVariant(t, func(d map[string]any) { d["post_processor"] = nil })
	cfg := `{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": null,
		"add_bos_token": true, "model_max_length": 2048,
		"chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}]}`
	write(t, filepath.Join(dir, "tokenizer_config.json"), cfg)
	write(t, filepath.Join(dir, "special_tokens_map.json"), `{"eos_token": {"content": "</s>"}, "bos_token": "<unk>"}`)
	tk, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := tk.Config()
	if c.BOSToken != "<s>" || c.EOSToken != "</s>" {
		t.Errorf("bos %q eos %q, want <s> (config wins) and </s> (from the map)", c.BOSToken, c.EOSToken)
	}
	if c.ChatTemplate != "A" || c.ChatTemplates["tool_use"] != "B" || c.ModelMaxLength != 2048 {
		t.Errorf("templates %q %v, max length %v", c.ChatTemplate, c.ChatTemplates, c.ModelMaxLength)
	}
	// Without a TemplateProcessing, add_bos_token decides what Encode adds.
	bos, _ := tk.BOS()
	plain := tk.Encode("Once upon", false)
	if got := tk.Encode("Once upon", true); !slices.Equal(got, append([]int32{bos}, plain...)) {
		t.Errorf("Encode with specials = %v, want BOS %d then %v", got, bos, plain)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
