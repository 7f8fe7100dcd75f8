package gguf

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/tokenizer"
	"github.com/lmx-app/lmx/internal/llamacpp"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestTokenizerMatchesLlamaCpp converts the tokenizer of real GGUF files and
// checks, text by text, that engine/tokenizer encodes as llama.cpp does for
// the same file (with and without BOS/EOS, special-token text parsed as in a
// chat prompt) and decodes llama.cpp's ids to llama.cpp's text.
func TestTokenizerMatchesLlamaCpp(t *testing.T) {
	fx := testutil.Fixtures(t)
	tokenizers := filepath.Join(fx, "tokenizers")
	cases := []struct {
		name      string
		gguf      func(t *testing.T) string
		roundTrip bool // byte-level BPE decodes every text back to itself
	}{
		{"smollm2_gpt2_smollm", func(t *testing.T) string { return testutil.DemoGGUF(t) }, true},
		{"qwen3_gpt2_qwen2", func(t *testing.T) string {
			return vocabGGUF(t, "bpe", filepath.Join(tokenizers, "qwen3"), "qwen2")
		}, true},
		{"llama3_1_gpt2_llama-bpe", func(t *testing.T) string {
			return vocabGGUF(t, "bpe", filepath.Join(tokenizers, "llama3_1"), "llama-bpe")
		}, true},
		{"stories260k_llama", func(t *testing.T) string {
			return vocabGGUF(t, "llama2c", filepath.Join(fx, "sources", "llama2c", "tok512.bin"))
		}, false},
		{"llama2_llama", func(t *testing.T) string {
			return vocabGGUF(t, "spm", filepath.Join(tokenizers, "llama2"))
		}, false},
	}
	texts := tokenizerTexts(t)
	if len(texts) < 200 {
		t.Fatalf("only %d texts; the comparison needs at least 200", len(texts))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.gguf(t)
			tk, err := tokenizer.Load(convertTokenizer(t, path))
			if err != nil {
				t.Fatal(err)
			}
			ref := llamacpp.ForTest(t, llamacpp.Options{Model: path, VocabOnly: true})
			compareWithLlamaCpp(t, tk, ref, texts, c.roundTrip)
		})
	}
}

func compareWithLlamaCpp(t *testing.T, tk *tokenizer.Tokenizer, ref *llamacpp.Runner, texts []string, roundTrip bool) {
	failures := 0
	fail := func(format string, args ...any) {
		if failures++; failures <= 20 {
			t.Errorf(format, args...)
		}
	}
	for _, text := range texts {
		ids, err := ref.Tokenize(text, false, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := tk.Encode(text, false); !slices.Equal(got, ids) {
			fail("%q:\n got %v\nwant %v", text, got, ids)
		}
		withSpecial, err := ref.Tokenize(text, true, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := tk.Encode(text, true); !slices.Equal(got, withSpecial) {
			fail("%q with BOS/EOS:\n got %v\nwant %v", text, got, withSpecial)
		}
		decoded, err := ref.Detokenize(ids, true)
		if err != nil {
			t.Fatal(err)
		}
		got := tk.Decode(ids, false)
		if clean := tk.Config().CleanUpTokenizationSpaces; clean && cleanSpaces(got) != decoded || !clean && got != decoded {
			fail("decode %v: got %q (clean_up_tokenization_spaces %v), llama.cpp %q", ids, got, clean, decoded)
		}
		if roundTrip && got != text {
			fail("decode(encode(%q)) = %q", text, got)
		}
	}
	if failures > 0 {
		t.Errorf("%d mismatches over %d texts", failures, len(texts))
	}
	t.Logf("%d texts compared with llama.cpp", len(texts))
}

// cleanSpaces is llama.cpp's clean-up of decoded text (the three passes at
// the end of llama_vocab::impl::detokenize, byte for byte), which it applies
// where tokenizer_config.json's clean_up_tokenization_spaces is true.
// engine/tokenizer decodes without it, as the tokenizers library does, so
// decoding gives back the text that was encoded.
func cleanSpaces(s string) string {
	text := []byte(s)
	isPunct := func(c byte) bool { return c == '?' || c == '!' || c == '.' || c == ',' }
	n := len(text)
	// " ?", " !", " .", " ,": drop the space.
	total := min(n, 1)
	for i := 1; i < n; i++ {
		x := text[i]
		if text[i-1] == ' ' && isPunct(x) {
			total--
		}
		text[total] = x
		total++
	}
	// " ' ": drop both spaces.
	n, total = total, min(total, 1)
	for i := 1; i < n; i++ {
		x := text[i]
		if x == '\'' && i+1 < n && text[i-1] == ' ' && text[i+1] == ' ' {
			total--
			i++
			text[i] = 0
		}
		text[total] = x
		total++
	}
	// " 's", " 'm", " 're", " 've": drop the space.
	n, total = total, min(total, 1)
	for i := 1; i < n; i++ {
		x := text[i]
		if text[i-1] == ' ' && x == '\'' && i+1 < n {
			x1 := text[i+1]
			if x1 == 's' || x1 == 'm' || i+2 < n && (x1 == 'r' || x1 == 'v') && text[i+2] == 'e' {
				total--
			}
		}
		text[total] = x
		total++
	}
	return string(text[:total])
}

// convertTokenizer writes the tokenizer files of a GGUF into a new folder.
func convertTokenizer(t *testing.T, path string) string {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteTokenizerFiles(dir, f.Metadata); err != nil {
		t.Fatal(err)
	}
	return dir
}

// vocabGGUF builds a vocabulary-only GGUF with gguf-py
// (testdata/vocab_gguf.py KIND ARGS... OUT); without the venv the test is
// skipped, or fails under LMX_REQUIRE_PY=1.
func vocabGGUF(t *testing.T, kind string, args ...string) string {
	t.Helper()
	py := testutil.Python(t)
	if py == "" || exec.Command(py, "-c", "import gguf").Run() != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python with gguf in .venv or $LMX_PYTHON (build/setup.sh py)")
	}
	out := filepath.Join(t.TempDir(), kind+".gguf")
	args = append(append([]string{filepath.Join("testdata", "vocab_gguf.py"), kind}, args...), out)
	if msg, err := exec.Command(py, args...).CombinedOutput(); err != nil {
		t.Fatalf("vocab_gguf.py: %v\n%s", err, msg)
	}
	return out
}

// tokenizerTexts returns the texts to compare: the tokenize goldens' texts,
// the goldens' and engine/chat's conversations rendered with SmolLM2's chat
// template, and testdata/tokenizer_texts.jsonl (code, emoji, scripts,
// whitespace); each also with a leading space, a trailing newline and inside
// a chat turn.
func tokenizerTexts(t *testing.T) []string {
	fx := testutil.Fixtures(t)
	var base []string
	paths, _ := filepath.Glob(filepath.Join(fx, "goldens", "tokenize_*.jsonl"))
	for _, p := range paths {
		for _, r := range testutil.ReadJSONL[struct{ Text string }](t, p) {
			base = append(base, r.Text)
		}
	}
	base = append(base, testutil.ReadJSONL[string](t, filepath.Join("testdata", "tokenizer_texts.jsonl"))...)
	tmpl, err := chat.LoadTemplate(convertTokenizer(t, testutil.DemoGGUF(t)))
	if err != nil {
		t.Fatal(err)
	}
	base = append(base, renderConversations(t, tmpl)...)
	var texts []string
	seen := map[string]bool{}
	for _, b := range base {
		for _, s := range []string{b, " " + b, b + "\n", "<|im_start|>user\n" + b + "<|im_end|>\n"} {
			if !seen[s] {
				seen[s] = true
				texts = append(texts, s)
			}
		}
	}
	return texts
}

// renderConversations renders chatConversations with tmpl, leaving out
// those the template refuses.
func renderConversations(t *testing.T, tmpl *chat.Template) []string {
	var out []string
	for _, c := range chatConversations(t) {
		if s, err := tmpl.Render(c.Messages, c.tools(), c.AddGenerationPrompt, c.Kwargs); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// conversation is a chat request of the goldens (chat_*.jsonl) or of
// engine/chat's testdata/conversations.json.
type conversation struct {
	Name                string          `json:"name"`
	Messages            json.RawMessage `json:"messages"`
	Tools               json.RawMessage `json:"tools"`
	AddGenerationPrompt bool            `json:"add_generation_prompt"`
	Kwargs              map[string]any  `json:"template_kwargs"`
}

func (c conversation) tools() any {
	if len(c.Tools) == 0 || string(c.Tools) == "null" {
		return nil
	}
	return c.Tools
}

func chatConversations(t *testing.T) []conversation {
	var out []conversation
	paths, _ := filepath.Glob(filepath.Join(testutil.Fixtures(t), "goldens", "chat_*.jsonl"))
	for _, p := range paths {
		out = append(out, testutil.ReadJSONL[conversation](t, p)...)
	}
	chatData := filepath.Join(testutil.RepoRoot(t), "engine", "chat", "testdata")
	var convs []struct {
		Name                string          `json:"name"`
		Messages            json.RawMessage `json:"messages"`
		Tools               string          `json:"tools"`
		AddGenerationPrompt *bool           `json:"add_generation_prompt"`
		Kwargs              map[string]any  `json:"kwargs"`
	}
	var tools map[string]json.RawMessage
	readJSON(t, filepath.Join(chatData, "conversations.json"), &convs)
	readJSON(t, filepath.Join(chatData, "tools.json"), &tools)
	for _, c := range convs {
		out = append(out, conversation{Name: c.Name, Messages: c.Messages, Tools: tools[c.Tools],
			AddGenerationPrompt: c.AddGenerationPrompt == nil || *c.AddGenerationPrompt, Kwargs: c.Kwargs})
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestChatTemplateMatchesJinja2 renders the goldens' and engine/chat's
// conversations with the chat template written from the demo GGUF's
// metadata and compares each with Python Jinja2 set up as transformers sets
// it up (engine/chat's testdata/hf_render.py).
func TestChatTemplateMatchesJinja2(t *testing.T) {
	py := testutil.Python(t)
	if py == "" || exec.Command(py, "-c", "import jinja2").Run() != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python with jinja2 in .venv or $LMX_PYTHON (build/setup.sh py)")
	}
	path := testutil.DemoGGUF(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	source := f.Metadata["tokenizer.chat_template"].(string)
	dir := convertTokenizer(t, path)
	tmpl, err := chat.LoadTemplate(dir)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	bos, eos := tk.Config().BOSToken, tk.Config().EOSToken
	convs := chatConversations(t)
	want := renderJinja2(t, py, source, bos, eos, convs)
	rendered := 0
	for i, c := range convs {
		got, err := tmpl.Render(c.Messages, c.tools(), c.AddGenerationPrompt, c.Kwargs)
		switch w := want[i]; {
		case w.Rendered != nil && err != nil:
			t.Errorf("%s: jinja2 rendered, we failed: %v", c.Name, err)
		case w.Rendered != nil && got != *w.Rendered:
			t.Errorf("%s: mismatch\n got %q\nwant %q", c.Name, got, *w.Rendered)
		case w.Rendered != nil:
			rendered++
		case w.Kind == "TemplateError" && err == nil:
			t.Errorf("%s: the template raised %q in jinja2, we rendered %q", c.Name, w.Error, got)
		default:
			// SmolLM2's template concatenates message['content'], which
			// Python refuses for a tool call without content.
			t.Logf("%s: jinja2 failed with %s %q", c.Name, w.Kind, w.Error)
		}
	}
	if rendered < len(convs)/2 {
		t.Errorf("jinja2 rendered only %d of %d conversations", rendered, len(convs))
	}
}

type jinja2Result struct {
	Rendered *string `json:"rendered"`
	Error    string  `json:"error"`
	Kind     string  `json:"kind"`
}

func renderJinja2(t *testing.T, py, source, bos, eos string, convs []conversation) []jinja2Result {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, c := range convs {
		tools := c.Tools
		if len(tools) == 0 {
			tools = json.RawMessage("null")
		}
		req := map[string]any{"template": source, "messages": c.Messages, "tools": tools,
			"add_generation_prompt": c.AddGenerationPrompt, "kwargs": c.Kwargs, "bos_token": bos, "eos_token": eos}
		if err := enc.Encode(req); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(py, filepath.Join(testutil.RepoRoot(t), "engine", "chat", "testdata", "hf_render.py"))
	cmd.Stdin, cmd.Stderr = &in, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hf_render.py: %v", err)
	}
	var res []jinja2Result
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var r jinja2Result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		res = append(res, r)
	}
	if len(res) != len(convs) {
		t.Fatalf("hf_render.py answered %d of %d requests", len(res), len(convs))
	}
	return res
}

// TestWriteTokenizerConfig checks the special tokens, BOS/EOS flags and chat
// template written from the demo GGUF, as engine/tokenizer reads them.
func TestWriteTokenizerConfig(t *testing.T) {
	path := testutil.DemoGGUF(t)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokenizer.Load(convertTokenizer(t, path))
	if err != nil {
		t.Fatal(err)
	}
	cfg := tk.Config()
	got := fmt.Sprintf("bos %q eos %q pad %q unk %q add_bos %v template %v",
		cfg.BOSToken, cfg.EOSToken, cfg.PadToken, cfg.UnkToken, *cfg.AddBOSToken,
		cfg.ChatTemplate == f.Metadata["tokenizer.chat_template"])
	want := `bos "<|im_start|>" eos "<|im_end|>" pad "<|im_end|>" unk "<|endoftext|>" add_bos false template true`
	if got != want {
		t.Errorf("config: %s\nwant   %s", got, want)
	}
	if id, ok := tk.EOS(); !ok || int64(id) != f.Metadata["tokenizer.ggml.eos_token_id"].(int64) {
		t.Errorf("EOS id %d, %v", id, ok)
	}
	for id := range int32(17) { // SmolLM2's control tokens <|endoftext|> ... <empty_output>
		if !tk.IsSpecial(id) {
			t.Errorf("token %d %q is not special", id, tk.Token(id))
		}
	}
	if tk.IsSpecial(17) {
		t.Errorf("token 17 %q is special", tk.Token(17))
	}
}

// smallVocab is the metadata of a minimal valid gpt2 tokenizer.
func smallVocab() map[string]any {
	return map[string]any{
		"tokenizer.ggml.model":  "gpt2",
		"tokenizer.ggml.pre":    "gpt-2",
		"tokenizer.ggml.tokens": []string{"<|endoftext|>", "a", "b", "ab", "Ġ"},
		"tokenizer.ggml.merges": []string{"a b"},
		"tokenizer.ggml.token_type": []int64{tokenControl, tokenNormal, tokenNormal, tokenNormal,
			tokenNormal},
		"tokenizer.ggml.bos_token_id": int64(0),
		"tokenizer.ggml.eos_token_id": int64(0),
	}
}

func TestWriteTokenizerFilesErrors(t *testing.T) {
	cases := []struct {
		name   string
		edit   func(md map[string]any)
		target error
		text   string // the error names it
	}{
		{"unsupported model", func(md map[string]any) { md["tokenizer.ggml.model"] = "t5" }, ErrUnsupported, `"t5"`},
		{"no model", func(md map[string]any) { delete(md, "tokenizer.ggml.model") }, ErrUnsupported, "tokenizer.ggml.model"},
		{"unsupported pre", func(md map[string]any) { md["tokenizer.ggml.pre"] = "deepseek-coder" }, ErrUnsupported, `"deepseek-coder"`},
		{"wrong type", func(md map[string]any) { md["tokenizer.ggml.tokens"] = []int64{1} }, ErrCorrupt, "tokenizer.ggml.tokens"},
		{"short types", func(md map[string]any) { md["tokenizer.ggml.token_type"] = []int64{1} }, ErrCorrupt, "tokenizer.ggml.token_type"},
		{"duplicate token", func(md map[string]any) { md["tokenizer.ggml.tokens"].([]string)[2] = "a" }, ErrCorrupt, `"a"`},
		{"no merges", func(md map[string]any) { delete(md, "tokenizer.ggml.merges") }, ErrCorrupt, "merges"},
		{"bos required", func(md map[string]any) {
			md["tokenizer.ggml.add_bos_token"] = true
			md["tokenizer.ggml.bos_token_id"] = int64(99)
			md["tokenizer.ggml.tokens"] = []string{"a", "b", "ab", "Ġ", "c"}
		}, ErrCorrupt, "add_bos_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := smallVocab()
			c.edit(md)
			err := WriteTokenizerFiles(t.TempDir(), md)
			if !errors.Is(err, c.target) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("err = %v, want %v naming %s", err, c.target, c.text)
			}
		})
	}
}

// TestNamedChatTemplates checks that tokenizer.chat_template.NAME keys become
// named templates engine/chat picks by name (tool_use for requests with tools).
func TestNamedChatTemplates(t *testing.T) {
	md := smallVocab()
	md["tokenizer.chat_template"] = "{{ 'plain' }}"
	md["tokenizer.chat_template.tool_use"] = "{{ 'tools' }}"
	dir := t.TempDir()
	if err := WriteTokenizerFiles(dir, md); err != nil {
		t.Fatal(err)
	}
	tmpl, err := chat.LoadTemplate(dir)
	if err != nil {
		t.Fatal(err)
	}
	msgs := json.RawMessage(`[{"role":"user","content":"hi"}]`)
	tools := json.RawMessage(`[{"type":"function","function":{"name":"f","parameters":{}}}]`)
	for _, c := range []struct {
		tools any
		want  string
	}{{nil, "plain"}, {tools, "tools"}} {
		if got, err := tmpl.Render(msgs, c.tools, true, nil); err != nil || got != c.want {
			t.Errorf("tools %v: %q, %v; want %q", c.tools != nil, got, err, c.want)
		}
	}
}
