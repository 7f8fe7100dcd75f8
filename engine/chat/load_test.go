package chat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadTemplate(t *testing.T) {
	msgs := []Message{{Role: "user", Content: "Hi"}}
	tools := []map[string]any{{"type": "function", "function": map[string]any{"name": "f"}}}
	cases := []struct {
		name  string
		files map[string]string
		tools any
		want  string
	}{
		{"string template, token objects", map[string]string{"tokenizer_config.json": `{"chat_template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}",
			"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>"}`}, nil, "<s>Hi</s>"},
		{"named list without tools", map[string]string{"tokenizer_config.json": `{"chat_template": [
			{"name": "default", "template": "plain"}, {"name": "tool_use", "template": "tools={{ tools | length }}"}]}`}, nil, "plain"},
		{"named list with tools", map[string]string{"tokenizer_config.json": `{"chat_template": [
			{"name": "default", "template": "plain"}, {"name": "tool_use", "template": "tools={{ tools | length }}"}]}`}, tools, "tools=1"},
		{"chat_template.jinja wins", map[string]string{"tokenizer_config.json": `{"chat_template": "old", "eos_token": "<e>"}`,
			"chat_template.jinja": "new{{ eos_token }}\n"}, nil, "new<e>"},
		{"chat_template.json", map[string]string{"chat_template.json": `{"chat_template": "from json"}`}, nil, "from json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := LoadTemplate(writeFiles(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(msgs, tc.tools, true, nil)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLoadTemplateMissing(t *testing.T) {
	dir := filepath.Join(testutil.Fixtures(t), "tokenizers", "llama2")
	if _, err := LoadTemplate(dir); !errors.Is(err, ErrNoTemplate) {
		t.Errorf("llama2 (base model): got %v, want ErrNoTemplate", err)
	}
}

// TestTemplateErrors: a template's raise_exception reaches the caller as
// ErrTemplate carrying the template's message.
func TestTemplateErrors(t *testing.T) {
	tmpl, err := LoadTemplate(filepath.Join(testutil.Fixtures(t), "tokenizers", "gemma3"))
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Role: "user", Content: "Weather?"}, {Role: "assistant", Content: "Checking."},
		{Role: "tool", Content: "18C", ToolCallID: "call_1"}}
	_, err = tmpl.Render(msgs, nil, true, nil)
	if !errors.Is(err, ErrTemplate) || !strings.Contains(err.Error(), "Conversation roles must alternate user/assistant/user/assistant/...") {
		t.Errorf("got %v, want ErrTemplate with gemma's message", err)
	}
}

// TestToolCallArgumentsString: OpenAI clients send arguments as a JSON
// string; templates get the object, so the prompt is the one the model was
// trained on (Qwen prints objects with tojson).
func TestToolCallArgumentsString(t *testing.T) {
	tmpl, err := LoadTemplate(filepath.Join(testutil.Fixtures(t), "tokenizers", "qwen3"))
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{
		{Role: "user", Content: "Weather?"},
		{Role: "assistant", ToolCalls: []ToolCall{{ID: "c1", Type: "function", Function: FunctionCall{Name: "get_weather", Arguments: `{"city":"Paris","days":2}`}}}, Content: ""},
	}
	got, err := tmpl.Render(msgs, nil, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `<tool_call>` + "\n" + `{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}` + "\n</tool_call>"
	if !strings.Contains(got, want) {
		t.Errorf("rendered %q, want it to contain %q", got, want)
	}
}

func TestDetectFormat(t *testing.T) {
	fx := testutil.Fixtures(t)
	cases := []struct {
		tokenizer string
		format    Format
		thinking  bool
	}{
		{"qwen3", FormatHermes, true},
		{"llama3_1", FormatNone, false}, // this template has no tool section
		{"gemma3", FormatNone, false},
	}
	for _, tc := range cases {
		t.Run(tc.tokenizer, func(t *testing.T) {
			tmpl, err := LoadTemplate(filepath.Join(fx, "tokenizers", tc.tokenizer))
			if err != nil {
				t.Fatal(err)
			}
			if got := tmpl.Format(); got != tc.format {
				t.Errorf("Format() = %v, want %v", got, tc.format)
			}
			if got := tmpl.Thinking(); got != tc.thinking {
				t.Errorf("Thinking() = %v, want %v", got, tc.thinking)
			}
		})
	}
	markers := map[string]Format{
		`{{- '<|python_tag|>' + tool_call.name }}`:                                                   FormatLlama3,
		`Respond in the format {"name": function name, "parameters": dictionary}<|start_header_id|>`: FormatLlama3,
		`{{- '[TOOL_CALLS]' + tool_calls | tojson }}`:                                                FormatMistral,
		`{{- '<|tool_call>call:' + function['name'] + '{' }}`:                                        FormatGemma,
	}
	for src, want := range markers {
		if got := DetectFormat(src); got != want {
			t.Errorf("DetectFormat(%q) = %v, want %v", src, got, want)
		}
	}
}

func TestPromptOpensThink(t *testing.T) {
	tmpl, err := LoadTemplate(filepath.Join(testutil.Fixtures(t), "tokenizers", "qwen3"))
	if err != nil {
		t.Fatal(err)
	}
	msgs := []Message{{Role: "user", Content: "Hi"}}
	for _, tc := range []struct {
		kwargs map[string]any
		want   bool
	}{{nil, false}, {map[string]any{"enable_thinking": false}, false}} {
		prompt, err := tmpl.Render(msgs, nil, true, tc.kwargs)
		if err != nil {
			t.Fatal(err)
		}
		if got := PromptOpensThink(prompt); got != tc.want {
			t.Errorf("kwargs %v: PromptOpensThink(%q) = %v", tc.kwargs, prompt, got)
		}
	}
	if !PromptOpensThink("<|im_start|>assistant\n<think>\n") {
		t.Error("a prompt ending in <think>\\n opens reasoning")
	}
}
