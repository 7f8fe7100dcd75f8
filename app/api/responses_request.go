package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
)

// responsesDefaultTemperature and responsesDefaultTopP are the Responses
// API's defaults.
const (
	responsesDefaultTemperature = 1.0
	responsesDefaultTopP        = 1.0
)

// chatRequest turns a Responses request into the engine's chat request.
// history is the stored conversation of previous_response_id (nil without
// one); turns is history plus this request's input, without instructions:
// what a follow-up continues from.
func (r *ResponseRequest) chatRequest(history []chat.Message) (req engine.ChatRequest, turns []chat.Message, err error) {
	if r.Model == "" {
		return req, nil, fieldErr("model", "field required")
	}
	if req.Params, err = r.params(); err != nil {
		return req, nil, err
	}
	if req.Format, err = r.responseFormat(); err != nil {
		return req, nil, err
	}
	input, err := responseInput(r.Input)
	if err != nil {
		return req, nil, err
	}
	turns = append(append([]chat.Message{}, history...), input...)
	msgs := turns
	if r.Instructions != nil && *r.Instructions != "" {
		msgs = append([]chat.Message{{Role: "system", Content: *r.Instructions}}, turns...)
	}
	req.Messages = msgs
	if req.Tools, err = responseTools(r.Tools); err != nil {
		return req, nil, err
	}
	if req.ToolChoice, err = responseToolChoice(r.ToolChoice); err != nil {
		return req, nil, err
	}
	if e := r.Reasoning; e != nil && e.Effort != nil {
		on := *e.Effort != "none"
		req.Reasoning = &on
	}
	return req, turns, nil
}

// params checks and converts the length and sampling fields.
func (r *ResponseRequest) params() (engine.Params, error) {
	p := engine.Params{MaxTokens: DefaultMaxTokens}
	if n := r.MaxOutputTokens; n != nil {
		if *n < 1 {
			return p, fieldErr("max_output_tokens", "must be at least 1, got %d", *n)
		}
		p.MaxTokens = *n
	}
	p.Sampling.Temperature = responsesDefaultTemperature
	if t := r.Temperature; t != nil {
		if !inRange(*t, 0, 2) {
			return p, fieldErr("temperature", "must be between 0 and 2, got %v", *t)
		}
		p.Sampling.Temperature = *t
	}
	if t := r.TopP; t != nil {
		if !inRange(*t, 0, 1) {
			return p, fieldErr("top_p", "must be between 0 and 1, got %v", *t)
		}
		p.Sampling.TopP = *t
	}
	return p, nil
}

// responseInput converts input: a string is one user message; a list holds
// messages, function calls and their outputs, and reasoning items.
func responseInput(raw json.RawMessage) ([]chat.Message, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fieldErr("input", "%v", err)
		}
		return []chat.Message{{Role: "user", Content: s}}, nil
	}
	var items []ResponseInputItem
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fieldErr("input", "must be a string or a list of input items")
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fieldErr("input", "%v", err)
	}
	if len(items) == 0 {
		return nil, fieldErr("input", "at least one input item is required")
	}
	var c inputConverter
	for i, it := range items {
		if err := c.add(it, fmt.Sprintf("input.%d", i)); err != nil {
			return nil, err
		}
	}
	return c.msgs, nil
}

// inputConverter gathers input items into chat messages: consecutive
// function calls join one assistant message, and a reasoning item goes with
// the assistant message that follows it.
type inputConverter struct {
	msgs      []chat.Message
	reasoning string
}

// add converts one item.
func (c *inputConverter) add(it ResponseInputItem, param string) error {
	switch it.Type {
	case "", "message":
		return c.message(it, param)
	case "function_call":
		if it.CallID == "" || it.Name == "" || it.Arguments == nil {
			return fieldErr(param, "function_call needs call_id, name and arguments")
		}
		call := chat.ToolCall{ID: it.CallID, Type: "function", Function: chat.FunctionCall{Name: it.Name, Arguments: *it.Arguments}}
		if n := len(c.msgs); n > 0 && c.msgs[n-1].Role == "assistant" && c.reasoning == "" {
			c.msgs[n-1].ToolCalls = append(c.msgs[n-1].ToolCalls, call)
			return nil
		}
		c.assistant(chat.Message{Role: "assistant", Content: "", ToolCalls: []chat.ToolCall{call}})
	case "function_call_output":
		if it.CallID == "" {
			return fieldErr(param+".call_id", "field required")
		}
		out, err := partsText(it.Output, param+".output")
		if err != nil {
			return err
		}
		c.msgs = append(c.msgs, chat.Message{Role: "tool", ToolCallID: it.CallID, Content: out})
	case "reasoning":
		text, err := partsText(it.Content, param+".content")
		if err != nil {
			return err
		}
		c.reasoning += text
	case "input_image", "input_file", "input_audio":
		return &ParamError{Param: param + ".type", Err: fmt.Errorf("%w: %s items are not supported", errTextOnly, it.Type)}
	default:
		return fieldErr(param+".type", "unsupported input item type %q", it.Type)
	}
	return nil
}

// message converts a message item; developer messages are system ones.
func (c *inputConverter) message(it ResponseInputItem, param string) error {
	role := it.Role
	switch role {
	case "user", "assistant", "system":
	case "developer":
		role = "system"
	default:
		return fieldErr(param+".role", "must be user, assistant, system or developer, got %q", it.Role)
	}
	text, err := partsText(it.Content, param+".content")
	if err != nil {
		return err
	}
	if role == "assistant" {
		c.assistant(chat.Message{Role: role, Content: text})
		return nil
	}
	c.msgs = append(c.msgs, chat.Message{Role: role, Content: text})
	return nil
}

// assistant appends m with the pending reasoning.
func (c *inputConverter) assistant(m chat.Message) {
	m.ReasoningContent, c.reasoning = c.reasoning, ""
	c.msgs = append(c.msgs, m)
}

// partsText reads content that is a string or a list of text parts
// (input_text, output_text, text, refusal, reasoning_text).
func partsText(raw json.RawMessage, param string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fieldErr(param, "%v", err)
		}
		return s, nil
	}
	var parts []ResponsePart
	if raw[0] != '[' || json.Unmarshal(raw, &parts) != nil {
		return "", fieldErr(param, "must be a string or a list of content parts")
	}
	var text strings.Builder
	for i, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text", "reasoning_text", "summary_text":
			text.WriteString(p.Text)
		case "refusal":
			if p.Refusal != nil {
				text.WriteString(*p.Refusal)
			}
		case "input_image", "input_file", "input_audio":
			return "", &ParamError{Param: fmt.Sprintf("%s.%d.type", param, i), Err: fmt.Errorf("%w: %s parts are not supported", errTextOnly, p.Type)}
		default:
			return "", fieldErr(fmt.Sprintf("%s.%d.type", param, i), "unsupported content part type %q", p.Type)
		}
	}
	return text.String(), nil
}

// responseTools converts function tools to the engine's OpenAI chat shape.
func responseTools(tools []ResponseTool) (json.RawMessage, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]functionTool, len(tools))
	for i, t := range tools {
		p := fmt.Sprintf("tools.%d", i)
		switch {
		case t.Type != "function":
			return nil, fieldErr(p+".type", "tool type %q is not supported; only function tools are", t.Type)
		case t.Name == "":
			return nil, fieldErr(p+".name", "field required")
		case len(t.Parameters) > 0 && string(t.Parameters) != "null" && !isJSONObject(t.Parameters):
			return nil, fieldErr(p+".parameters", "must be a JSON schema object")
		}
		f := toolFunction{Name: t.Name, Parameters: t.Parameters}
		if t.Description != nil {
			f.Description = *t.Description
		}
		out[i] = functionTool{Type: "function", Function: f}
	}
	return json.Marshal(out)
}

// responseToolChoice maps tool_choice: "auto", "none", "required" or
// {"type": "function", "name": ...}.
func responseToolChoice(raw json.RawMessage) (engine.ToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch engine.ToolChoice(s) {
		case engine.ToolChoiceAuto, engine.ToolChoiceNone, engine.ToolChoiceRequired:
			return engine.ToolChoice(s), nil
		}
		return "", fieldErr("tool_choice", "must be auto, none or required, got %q", s)
	}
	var obj struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if json.Unmarshal(raw, &obj) != nil || obj.Type != "function" || obj.Name == "" {
		return "", fieldErr("tool_choice", "must be auto, none, required or {\"type\": \"function\", \"name\": ...}")
	}
	return engine.ToolChoice(obj.Name), nil
}
