package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/grammar"
	"github.com/lmx-app/lmx/internal/testmodel"
)

var qwen3Tiny struct {
	once sync.Once
	m    *Model
	err  error
}

// loadQwen3Tiny loads the tiny Qwen3-tokenizer model once per test binary
// (its llguidance tokenizer takes seconds to build); never closed.
func loadQwen3Tiny(t *testing.T) *Model {
	t.Helper()
	requireGrammar(t)
	qwen3Tiny.once.Do(func() {
		dir := testmodel.Qwen3Tiny(t, t.TempDir(), "qwen3-tiny")
		qwen3Tiny.m, qwen3Tiny.err = Load(context.Background(), dir, Options{})
	})
	if qwen3Tiny.err != nil {
		t.Fatal(qwen3Tiny.err)
	}
	return qwen3Tiny.m
}

const grammarTools = `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",` +
	`"properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1}},"required":["city","days"],"additionalProperties":false}}},` +
	`{"type":"function","function":{"name":"ping"}}]`

// accepts feeds text's tokens through a matcher of spec and reports whether
// every token is allowed and the grammar may end after them.
func accepts(t *testing.T, m *Model, spec grammar.Spec, text string) bool {
	t.Helper()
	tok, err := m.grammarTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	mt, err := tok.NewMatcher(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer mt.Close()
	for _, id := range m.text.tok.Encode(text, false) {
		if mt.Consume(id) != nil {
			return false
		}
	}
	return mt.IsAccepting()
}

// TestToolGrammars: each format's call grammar accepts a call of an offered
// tool in that format's syntax, which the chat parser reads back as that
// call, and refuses a call of another tool or with invalid arguments.
func TestToolGrammars(t *testing.T) {
	m := loadQwen3Tiny(t)
	var tools []offeredTool
	if err := json.Unmarshal([]byte(grammarTools), &tools); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name            string
		format          chat.Format
		syntax          toolSyntax
		good, bad, bad2 string
	}{
		{"hermes", chat.FormatHermes, syntaxJSON, "<tool_call>\n" + `{"name":"get_weather","arguments":{"city":"Oslo","days":3}}` + "\n</tool_call>",
			"<tool_call>\n" + `{"name":"get_time","arguments":{}}` + "\n</tool_call>", "<tool_call>\n" + `{"name":"get_weather","arguments":{"city":"Oslo","days":0}}` + "\n</tool_call>"},
		{"llama3", chat.FormatLlama3, syntaxJSON, `{"name":"get_weather","parameters":{"city":"Oslo","days":3}}`,
			`{"name":"get_time","parameters":{}}`, `{"name":"get_weather","parameters":{"city":"Oslo"}}`},
		{"mistral", chat.FormatMistral, syntaxJSON, `[TOOL_CALLS][{"name":"get_weather","arguments":{"city":"Oslo","days":3}}]`,
			`[TOOL_CALLS][{"name":"get_time","arguments":{}}]`, `[TOOL_CALLS][{"name":"get_weather","arguments":{"town":"Oslo","days":3}}]`},
		{"mistral [ARGS]", chat.FormatMistral, syntaxMistralArgs, `[TOOL_CALLS]get_weather[ARGS]{"city":"Oslo","days":3}`,
			`[TOOL_CALLS]get_time[ARGS]{}`, `[TOOL_CALLS]get_weather[ARGS]{"city":3,"days":3}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec, refused, err := callGrammar(c.format, c.syntax, tools)
			if err != nil || refused != "" {
				t.Fatalf("%v %s", err, refused)
			}
			if !accepts(t, m, spec, c.good) {
				t.Errorf("%q refused", c.good)
			}
			for _, bad := range []string{c.bad, c.bad2} {
				if accepts(t, m, spec, bad) {
					t.Errorf("%q accepted", bad)
				}
			}
			r := chat.Parse(c.format, chat.Options{}, c.good)
			if len(r.ToolCalls) != 1 || r.ToolCalls[0].Function.Name != "get_weather" || r.ToolCalls[0].Function.Arguments != `{"city":"Oslo","days":3}` {
				t.Errorf("the parser reads %+v", r)
			}
		})
	}
	for _, c := range []struct {
		format chat.Format
		syntax toolSyntax
		reason string
	}{
		{chat.FormatNone, syntaxJSON, "no tool-call syntax"},
		{chat.FormatGemma, syntaxJSON, "gemma"},
		{chat.FormatHermes, syntaxXML, "XML"},
		{chat.FormatHermes, syntaxGLM, "arg_key"},
	} {
		if _, refused, _ := callGrammar(c.format, c.syntax, tools); !strings.Contains(refused, c.reason) {
			t.Errorf("%s/%d: refused %q, want a reason naming %q", c.format, c.syntax, refused, c.reason)
		}
	}
}

// TestToolChoiceRefused: a forced choice on a template without tool-call
// syntax is ErrInvalidRequest, not an unconstrained answer; a bad parameters
// schema names its fault.
func TestToolChoiceRefused(t *testing.T) {
	m := loadQwen3Tiny(t)
	msgs := []chat.Message{{Role: "user", Content: "hi"}}
	bad := `[{"type":"function","function":{"name":"f","parameters":{"type":"object","not":{}}}}]`
	_, err := m.Chat(context.Background(), ChatRequest{Messages: msgs, Tools: json.RawMessage(bad), ToolChoice: ToolChoiceRequired, Params: Params{MaxTokens: 4}})
	if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "not") {
		t.Errorf("bad parameters schema: %v", err)
	}
	if got := m.toolSyntax(); got != syntaxJSON {
		t.Errorf("Qwen3's template probed as syntax %d, want JSON", got)
	}
}

// TestThinkingThenGrammar: a thinking model's reasoning is free text (all
// but EOS allowed) until </think>; then the grammar holds; a prompt that did
// not open the block lets the first token open one.
func TestThinkingThenGrammar(t *testing.T) {
	m := loadQwen3Tiny(t)
	tok, err := m.grammarTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	spec := grammar.JSONSchema([]byte(`{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}`))
	words := grammar.MaskWords(m.info.VocabSize)
	allowed := func(c *constraint, s string) bool {
		mask := make([]uint32, words)
		if err := c.FillMask(mask); err != nil {
			t.Fatal(err)
		}
		id := m.text.tok.Encode(s, false)[0]
		return mask[id/32]&(1<<(id%32)) != 0
	}
	consume := func(c *constraint, s string) {
		for _, id := range m.text.tok.Encode(s, false) {
			if err := c.Consume(id); err != nil {
				t.Fatalf("%q: %v", s, err)
			}
		}
	}
	for _, opened := range []bool{true, false} {
		mt, err := tok.NewMatcher(spec)
		if err != nil {
			t.Fatal(err)
		}
		c := m.newConstraint(mt, &Prompt{chat: true, thinking: true, opened: opened, Text: "<|im_start|>assistant\n"})
		if !opened {
			if !allowed(c, "<think>") || allowed(c, "Hello") {
				t.Fatal("the first token may open a think block, not free text")
			}
			consume(c, "<think>")
		}
		if !allowed(c, "Hello") || allowed(c, "<|im_end|>") {
			t.Fatal("reasoning: free text, no EOS")
		}
		consume(c, "Let me think about {braces}.\n</think>\n\n")
		if allowed(c, "Hello") || !allowed(c, "{") {
			t.Fatal("after </think> the grammar holds")
		}
		consume(c, `{"a":1}`)
		if !allowed(c, "<|im_end|>") {
			t.Fatal("EOS not allowed after the value")
		}
		c.Close()
	}
}
