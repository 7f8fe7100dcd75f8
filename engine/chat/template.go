package chat

import (
	"errors"
	"fmt"
	"time"

	"github.com/ardanlabs/jinja"
)

// ErrTemplate marks a failure while rendering a chat template, above all a
// template's own raise_exception (for example Gemma rejecting a "tool" role).
// The error text carries the template's message; callers map it to a client
// error.
var ErrTemplate = errors.New("chat template error")

// Template is a compiled model chat template. It renders like Hugging Face's
// apply_chat_template(..., tokenize=False). Safe for concurrent use.
type Template struct {
	main    *jinja.Template
	toolUse *jinja.Template // optional variant used when tools are given
	sources []string
	bos     string
	eos     string
}

// NewTemplate compiles a Jinja chat template. bos and eos are the tokenizer's
// special-token strings, visible to the template as bos_token and eos_token.
func NewTemplate(source, bos, eos string) (*Template, error) {
	main, err := compile(source)
	if err != nil {
		return nil, err
	}
	return &Template{main: main, sources: []string{source}, bos: bos, eos: eos}, nil
}

// withToolUse adds the variant a model ships as its "tool_use" template.
func (t *Template) withToolUse(source string) error {
	tmpl, err := compile(source)
	if err != nil {
		return fmt.Errorf("tool_use: %w", err)
	}
	t.toolUse = tmpl
	t.sources = append(t.sources, source)
	return nil
}

func compile(source string) (*jinja.Template, error) {
	tmpl, err := jinja.Compile(normalizeSource(source))
	if err != nil {
		return nil, fmt.Errorf("compile chat template: %w", err)
	}
	return tmpl, nil
}

// Format is the tool-call format the template teaches the model.
func (t *Template) Format() Format {
	for i := len(t.sources) - 1; i >= 0; i-- {
		if f := DetectFormat(t.sources[i]); f != FormatNone {
			return f
		}
	}
	return FormatNone
}

// Thinking reports whether the template uses <think> reasoning blocks.
func (t *Template) Thinking() bool {
	for _, src := range t.sources {
		if HasThinking(src) {
			return true
		}
	}
	return false
}

// Render renders a conversation. messages is []Message or any value that
// encodes to a JSON array of message objects (a json.RawMessage keeps the
// client's key order); tools is nil or a JSON array of tool definitions.
// kwargs become template variables (enable_thinking, ...) and may override
// bos_token and eos_token. A tool call's arguments string holding a JSON
// object is given to the template as an object, as Hugging Face templates
// expect.
func (t *Template) Render(messages, tools any, addGenerationPrompt bool, kwargs map[string]any) (string, error) {
	vars, err := t.variables(messages, tools, addGenerationPrompt, kwargs)
	if err != nil {
		return "", err
	}
	tmpl := t.main
	if t.toolUse != nil && !vars["tools"].IsNone() {
		tmpl = t.toolUse
	}
	out, err := tmpl.RenderValues(vars)
	if err != nil {
		if errors.Is(err, ErrTemplate) {
			return "", err
		}
		return "", fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	return out, nil
}

func (t *Template) variables(messages, tools any, addGenerationPrompt bool, kwargs map[string]any) (map[string]jinja.Value, error) {
	msgs, err := toValue(messages)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	parseToolArguments(msgs)
	toolVal, err := toValue(tools)
	if err != nil {
		return nil, fmt.Errorf("tools: %w", err)
	}
	vars := map[string]jinja.Value{
		"messages":              msgs,
		"tools":                 toolVal,
		"add_generation_prompt": jinja.NewBool(addGenerationPrompt),
		"bos_token":             jinja.NewString(t.bos),
		"eos_token":             jinja.NewString(t.eos),
		"raise_exception":       jinja.NewCallable("raise_exception", raiseException),
		"strftime_now":          jinja.NewCallable("strftime_now", strftimeNow),
		hfToJSONName:            jinja.NewCallable(hfToJSONName, hfToJSON),
		pyStrName:               jinja.NewCallable(pyStrName, pyStrFilter),
		titleName:               jinja.NewCallable(titleName, titleFilter),
	}
	for k, v := range kwargs {
		val, err := toValue(v)
		if err != nil {
			return nil, fmt.Errorf("kwarg %s: %w", k, err)
		}
		vars[k] = val
	}
	return vars, nil
}

// raiseException is Hugging Face's raise_exception global.
func raiseException(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	msg := ""
	if len(args) > 0 && args[0].IsString() {
		msg = args[0].AsString()
	} else if len(args) > 0 {
		msg = args[0].String()
	}
	return jinja.Undefined(), fmt.Errorf("%w: %s", ErrTemplate, msg)
}

// strftimeNow is Hugging Face's strftime_now global: the local time now,
// formatted with a Python strftime pattern.
func strftimeNow(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 || !args[0].IsString() {
		return jinja.Undefined(), fmt.Errorf("strftime_now: expected a format string")
	}
	return jinja.NewString(strftime(time.Now(), args[0].AsString())), nil
}
