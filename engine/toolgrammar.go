package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/grammar"
)

// A forced tool choice (ToolChoiceRequired or a function name) constrains
// the answer to exactly one call of an offered tool, written in the model's
// own tool-call syntax, its arguments an instance of the tool's parameters
// schema; the chat parser then reads it as usual. The Lark grammar per
// format (compact JSON, see grammar.InlineJSON):
//
//	hermes   <tool_call>\n{"name":"f","arguments":{...}}\n</tool_call>
//	llama3   {"name":"f","parameters":{...}}
//	mistral  [TOOL_CALLS][{"name":"f","arguments":{...}}]
//	         or [TOOL_CALLS]f[ARGS]{...} when the template writes that form
//
// Refused with ErrInvalidRequest (a call cannot be enforced): templates
// without tool-call syntax, Gemma's call:f{key:value} syntax, and the hermes
// variants whose arguments are not JSON (Qwen3-Coder's <function=f> XML,
// GLM's <arg_key>). Under tool choice auto nothing is constrained: the model
// may answer in text, so a tool's "strict" is enforced exactly when a call
// is forced.

// toolSyntax is a variant of a format's call syntax, found by rendering a
// call with the template (probeSyntax).
type toolSyntax int

const (
	syntaxJSON        toolSyntax = iota // the format's JSON call objects
	syntaxXML                           // <function=f><parameter=k>v</parameter></function>
	syntaxGLM                           // f<arg_key>k</arg_key><arg_value>v</arg_value>
	syntaxMistralArgs                   // [TOOL_CALLS]f[ARGS]{...}
)

// offeredTool is one function tool of a request.
type offeredTool struct {
	Function struct {
		Name       string          `json:"name"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// toolSpec is the grammar of one call of p's tools in the model's syntax.
func (m *Model) toolSpec(p *Prompt) (grammar.Spec, error) {
	var tools []offeredTool
	if err := json.Unmarshal(p.tools, &tools); err != nil || len(tools) == 0 {
		return grammar.Spec{}, fmt.Errorf("%w: tools: %v", ErrInvalidRequest, err)
	}
	syntax := syntaxJSON
	if p.format == chat.FormatHermes || p.format == chat.FormatMistral {
		syntax = m.toolSyntax()
	}
	spec, refused, err := callGrammar(p.format, syntax, tools)
	switch {
	case refused != "":
		return spec, fmt.Errorf("%w: tool_choice %q cannot be enforced for this model: %s; use tool_choice auto",
			ErrInvalidRequest, string(p.choice), refused)
	case err != nil:
		return spec, fmt.Errorf("%w: structured output: %w", ErrInvalidRequest, err)
	}
	return spec, nil
}

// callGrammar is the Lark grammar of one call of tools in a format's
// syntax, or the reason the syntax has none.
func callGrammar(format chat.Format, syntax toolSyntax, tools []offeredTool) (spec grammar.Spec, refused string, err error) {
	var start string
	switch {
	case format == chat.FormatHermes && syntax == syntaxXML:
		return spec, "its chat template writes tool calls as <function=...> XML, not JSON", nil
	case format == chat.FormatHermes && syntax == syntaxGLM:
		return spec, "its chat template writes tool calls with <arg_key> tags, not JSON", nil
	case format == chat.FormatHermes:
		start, err = callAlternatives(tools, `"<tool_call>\n" (`, `{"name":%s,"arguments":`, `) "\n</tool_call>"`)
	case format == chat.FormatLlama3:
		start, err = callAlternatives(tools, "(", `{"name":%s,"parameters":`, ")")
	case format == chat.FormatMistral && syntax == syntaxMistralArgs:
		start, err = namedAlternatives(tools, `"[TOOL_CALLS]" (`, "%s[ARGS]", ")")
	case format == chat.FormatMistral:
		start, err = callAlternatives(tools, `"[TOOL_CALLS][" (`, `{"name":%s,"arguments":`, `) "]"`)
	case format == chat.FormatNone:
		return spec, "its chat template has no tool-call syntax", nil
	default:
		return spec, fmt.Sprintf("its chat template's %s tool-call syntax has no grammar in LMX", format), nil
	}
	if err != nil {
		return spec, "", err
	}
	return grammar.Lark("start: " + start + "\n"), "", nil
}

// callAlternatives builds open (alt | alt ...) close where each alternative
// is a JSON call object: head (with the quoted name) and the arguments,
// then "}". The arguments are a %json block of their own, so the tool's
// schema stays the root its $refs point into.
func callAlternatives(tools []offeredTool, open, head, close string) (string, error) {
	return alternatives(tools, open, close, func(name, args string) string {
		return larkString(fmt.Sprintf(head, jsonString(name))) + " " + args + ` "}"`
	})
}

// namedAlternatives builds alternatives of the name written by head, then
// the arguments object.
func namedAlternatives(tools []offeredTool, open, head, close string) (string, error) {
	return alternatives(tools, open, close, func(name, args string) string {
		return larkString(fmt.Sprintf(head, name)) + " " + args
	})
}

func alternatives(tools []offeredTool, open, close string, alt func(name, args string) string) (string, error) {
	var alts []string
	for i, t := range tools {
		if t.Function.Name == "" {
			return "", fmt.Errorf("tools[%d] has no function name", i)
		}
		args, err := grammar.InlineJSON(parameters(t.Function.Parameters))
		if err != nil {
			return "", fmt.Errorf("parameters of tool %s: %w", t.Function.Name, err)
		}
		alts = append(alts, alt(t.Function.Name, args))
	}
	return open + strings.Join(alts, " | ") + close, nil
}

// parameters is a tool's arguments schema: an object when it gives none.
func parameters(raw json.RawMessage) []byte {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" || string(t) == "{}" {
		return []byte(`{"type":"object"}`)
	}
	return t
}

// jsonString is s as a JSON string literal.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// larkString is s as a Lark string literal (JSON escapes).
func larkString(s string) string { return jsonString(s) }

// Names the probe conversation uses; Mistral templates want 9-character
// alphanumeric call ids.
const (
	probeName = "lmx_probe_fn"
	probeArg  = "lmx_probe_arg"
	probeID   = "call00000"
)

// toolSyntax returns the variant of the template's call syntax, probed once.
func (m *Model) toolSyntax() toolSyntax {
	g := m.text.grammar
	g.syntaxOnce.Do(func() { g.syntax = probeSyntax(m.text.tmpl) })
	return g.syntax
}

// probeSyntax renders an assistant tool call with the template and reads
// how it was written; syntaxJSON when the template fails or shows none of
// the other forms.
func probeSyntax(tmpl *chat.Template) toolSyntax {
	if tmpl == nil {
		return syntaxJSON
	}
	msgs := []chat.Message{
		{Role: "user", Content: "x"},
		{Role: "assistant", Content: "", ToolCalls: []chat.ToolCall{{ID: probeID, Type: "function",
			Function: chat.FunctionCall{Name: probeName, Arguments: `{"` + probeArg + `":"v"}`}}}},
		{Role: "tool", ToolCallID: probeID, Content: "y"},
	}
	tools := json.RawMessage(`[{"type":"function","function":{"name":"` + probeName + `","description":"d",` +
		`"parameters":{"type":"object","properties":{"` + probeArg + `":{"type":"string"}},"required":["` + probeArg + `"]}}}]`)
	s, err := tmpl.Render(msgs, tools, false, nil)
	switch {
	case err != nil:
		return syntaxJSON
	case strings.Contains(s, "<function="+probeName):
		return syntaxXML
	case strings.Contains(s, "<arg_key>"+probeArg):
		return syntaxGLM
	case strings.Contains(s, probeName+"[ARGS]"):
		return syntaxMistralArgs
	}
	return syntaxJSON
}
