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
		"range":                 jinja.NewCallable("range", boundedRange),
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

// maxRangeItems bounds range(): the library's range builds the whole list,
// so a model file's template with range(10**10) would exhaust memory. Real
// templates range over messages.
const maxRangeItems = 1 << 16

// boundedRange is Jinja's range(stop) / range(start, stop[, step]) that
// refuses more than maxRangeItems items before building the list.
func boundedRange(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) < 1 || len(args) > 3 {
		return jinja.Undefined(), fmt.Errorf("range: expected 1-3 arguments, got %d", len(args))
	}
	n := make([]int64, len(args))
	for i, a := range args {
		switch {
		case a.IsInt():
			n[i] = a.AsInt()
		case a.IsBool() && a.AsBool():
			n[i] = 1
		case !a.IsBool():
			return jinja.Undefined(), fmt.Errorf("range: argument %d is not an integer", i+1)
		}
	}
	start, stop, step := int64(0), n[0], int64(1)
	if len(n) > 1 {
		start, stop = n[0], n[1]
	}
	if len(n) > 2 {
		step = n[2]
	}
	var count uint64
	switch {
	case step == 0:
		return jinja.Undefined(), fmt.Errorf("range: step must not be zero")
	case step > 0 && stop > start:
		count = (uint64(stop)-uint64(start)-1)/uint64(step) + 1
	case step < 0 && stop < start:
		count = (uint64(start)-uint64(stop)-1)/(uint64(-(step+1))+1) + 1
	}
	if count > maxRangeItems {
		return jinja.Undefined(), fmt.Errorf("%w: range of %d items (at most %d)", ErrTemplate, count, maxRangeItems)
	}
	items := make([]jinja.Value, count)
	for i := range items {
		items[i] = jinja.NewInt(start + int64(i)*step)
	}
	return jinja.NewList(items), nil
}

// strftimeNow is Hugging Face's strftime_now global: the local time now,
// formatted with a Python strftime pattern.
func strftimeNow(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 || !args[0].IsString() {
		return jinja.Undefined(), fmt.Errorf("strftime_now: expected a format string")
	}
	return jinja.NewString(strftime(time.Now(), args[0].AsString())), nil
}
