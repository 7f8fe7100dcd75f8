package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzMessages is a conversation with every role, a tool call and a tool
// result, rendered with and without tools.
const fuzzMessages = `[{"role":"system","content":"Be brief."},{"role":"user","content":"Weather in Paris?"},` +
	`{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
	`{"role":"tool","tool_call_id":"c1","content":"sunny"},{"role":"assistant","content":"Sunny.","reasoning_content":"easy"},{"role":"user","content":"Thanks"}]`

const fuzzTools = `[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]`

// FuzzChatTemplate: loading a chat template from a model folder's
// tokenizer_config.json (chat_template as a string or a named list) and
// chat_template.jinja (which wins when present), then rendering a
// conversation with and without tools, never panics; a refusal is an error
// (rendering errors wrap ErrTemplate). Seeds in testdata/fuzz/FuzzChatTemplate
// are the fixture models' real templates (Llama 3.1, Qwen3, Gemma 3,
// Mistral, Phi-3, SmolLM2/ChatML) and hand-made edge cases.
func FuzzChatTemplate(f *testing.F) {
	f.Add([]byte(`{"chat_template":"{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}","bos_token":"<s>"}`), "", true)
	f.Fuzz(func(t *testing.T, config []byte, jinjaSource string, addGenerationPrompt bool) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), config, 0o644); err != nil {
			t.Fatal(err)
		}
		if jinjaSource != "" {
			if err := os.WriteFile(filepath.Join(dir, "chat_template.jinja"), []byte(jinjaSource), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tmpl, err := LoadTemplate(dir)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		_ = tmpl.Format()
		_ = tmpl.Thinking()
		for _, tools := range []any{nil, json.RawMessage(fuzzTools)} {
			out, err := tmpl.Render(json.RawMessage(fuzzMessages), tools, addGenerationPrompt, map[string]any{"enable_thinking": false})
			if err != nil && !errors.Is(err, ErrTemplate) {
				t.Fatalf("render error %v does not wrap ErrTemplate", err)
			}
			if err == nil {
				_ = PromptOpensThink(out)
			}
		}
	})
}

// TestRangeBounded: range() gives Python's items, and a template asking for
// more than maxRangeItems is refused at once instead of building the list
// (the library's own range(10**9) allocates gigabytes).
func TestRangeBounded(t *testing.T) {
	cases := []struct{ src, want string }{
		{"{% for i in range(5) %}{{ i }}{% endfor %}", "01234"},
		{"{% for i in range(1, 10, 3) %}{{ i }},{% endfor %}", "1,4,7,"},
		{"{% for i in range(5, 0, -2) %}{{ i }},{% endfor %}", "5,3,1,"},
		{"{% for i in range(3, 3) %}x{% endfor %}{{ range(-2)|length }}", "0"},
		{"{{ range(messages|length)|list|length }}", "6"},
	}
	for _, tc := range cases {
		tmpl, err := NewTemplate(tc.src, "", "")
		if err != nil {
			t.Fatal(err)
		}
		got, err := tmpl.Render(json.RawMessage(fuzzMessages), nil, false, nil)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
	for _, src := range []string{"{% for i in range(1000000000) %}{% endfor %}", "{{ range(-9223372036854775807, 9223372036854775807)|length }}",
		"{{ range(0, 1000000000, 1)|length }}", "{{ range(9223372036854775807, -9223372036854775807, -1)|length }}"} {
		tmpl, err := NewTemplate(src, "", "")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := tmpl.Render(json.RawMessage(fuzzMessages), nil, false, nil); !errors.Is(err, ErrTemplate) {
			t.Errorf("%s: err %v, want a refused range", src, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: refused after %v", src, d)
		}
	}
}
