package chat

import "strings"

// Format is a model family's way of writing tool calls in its output.
type Format int

// The tool-call formats the Parser understands.
const (
	// FormatNone: the template defines no tool calls; output is content
	// (and reasoning) only.
	FormatNone Format = iota
	// FormatHermes: <tool_call>...</tool_call> holding Qwen / Hermes JSON
	// {"name":..., "arguments":...}, Qwen3-Coder / Qwen3.5 / Nemotron
	// <function=name><parameter=key>...</parameter></function>, or GLM
	// name<arg_key>...</arg_key><arg_value>...</arg_value>.
	FormatHermes
	// FormatLlama3: Llama 3.1+ bare JSON {"name":..., "parameters":...},
	// optionally after <|python_tag|>, several separated by ";".
	FormatLlama3
	// FormatMistral: [TOOL_CALLS][{...}] or the newer [TOOL_CALLS]name[ARGS]{...}.
	FormatMistral
	// FormatGemma: Gemma 4 <|tool_call>call:name{key:value}<tool_call|>.
	FormatGemma
)

var formatNames = map[Format]string{
	FormatNone: "none", FormatHermes: "hermes", FormatLlama3: "llama3",
	FormatMistral: "mistral", FormatGemma: "gemma",
}

// String returns the format's short name.
func (f Format) String() string { return formatNames[f] }

// DetectFormat picks the tool-call format from the markers a chat template
// prints; FormatNone when the template shows no tool-call syntax.
func DetectFormat(templateSource string) Format {
	has := func(s string) bool { return strings.Contains(templateSource, s) }
	switch {
	case has(hermesOpen):
		return FormatHermes
	case has(mistralOpen):
		return FormatMistral
	case has(gemmaOpen):
		return FormatGemma
	case has(llamaPythonTag), has("<|start_header_id|>") && has(`"parameters"`):
		return FormatLlama3
	}
	return FormatNone
}

// HasThinking reports whether a template uses <think> reasoning blocks.
func HasThinking(templateSource string) bool {
	return strings.Contains(templateSource, thinkOpen)
}

// PromptOpensThink reports whether a rendered prompt ends inside an open
// <think> block (templates that force reasoning end the prompt with
// "<think>\n"), so the model's output starts as reasoning.
func PromptOpensThink(prompt string) bool {
	trimmed := strings.TrimRight(prompt, " \t\r\n")
	return strings.HasSuffix(trimmed, thinkOpen)
}

// Marker strings of the supported formats.
const (
	thinkOpen      = "<think>"
	thinkClose     = "</think>"
	hermesOpen     = "<tool_call>"
	hermesClose    = "</tool_call>"
	llamaPythonTag = "<|python_tag|>"
	mistralOpen    = "[TOOL_CALLS]"
	mistralArgs    = "[ARGS]"
	gemmaOpen      = "<|tool_call>"
	gemmaClose     = "<tool_call|>"
)
