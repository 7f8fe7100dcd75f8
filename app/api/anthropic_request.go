package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
)

// errTextOnly refuses image, document and other non-text input: the engine
// runs text-only models.
var errTextOnly = errors.New("this model reads text only")

// anthropicDefaultTemperature is the Messages API's default temperature.
const anthropicDefaultTemperature = 1.0

// fieldErr is a ParamError whose message starts with the parameter's path
// (as Anthropic's do: "messages.0.role: ...").
func fieldErr(param, format string, args ...any) error {
	return paramErr(param, "%s: %s", param, fmt.Sprintf(format, args...))
}

// chatRequest turns a Messages request into the engine's OpenAI-shaped chat
// request. count leaves max_tokens optional (count_tokens has none).
func (r *MessagesRequest) chatRequest(count bool) (engine.ChatRequest, error) {
	if r.Model == "" {
		return engine.ChatRequest{}, fieldErr("model", "field required")
	}
	params, err := r.params(count)
	if err != nil {
		return engine.ChatRequest{}, err
	}
	msgs, err := r.messages()
	if err != nil {
		return engine.ChatRequest{}, err
	}
	req := engine.ChatRequest{Messages: msgs, Params: params}
	if req.Tools, err = anthropicTools(r.Tools); err != nil {
		return engine.ChatRequest{}, err
	}
	if req.ToolChoice, err = anthropicToolChoice(r.ToolChoice); err != nil {
		return engine.ChatRequest{}, err
	}
	req.Reasoning, err = anthropicThinking(r.Thinking)
	return req, err
}

// params checks and converts max_tokens, stop sequences and sampling.
func (r *MessagesRequest) params(count bool) (engine.Params, error) {
	p := engine.Params{Stop: r.StopSequences}
	switch {
	case r.MaxTokens == nil && !count:
		return p, fieldErr("max_tokens", "field required")
	case r.MaxTokens != nil && *r.MaxTokens < 1:
		return p, fieldErr("max_tokens", "must be at least 1, got %d", *r.MaxTokens)
	case r.MaxTokens != nil:
		p.MaxTokens = *r.MaxTokens
	}
	p.Sampling.Temperature = anthropicDefaultTemperature
	if t := r.Temperature; t != nil {
		if !inRange(*t, 0, 1) {
			return p, fieldErr("temperature", "must be between 0 and 1, got %v", *t)
		}
		p.Sampling.Temperature = *t
	}
	if t := r.TopP; t != nil {
		if !inRange(*t, 0, 1) {
			return p, fieldErr("top_p", "must be between 0 and 1, got %v", *t)
		}
		p.Sampling.TopP = *t
	}
	if k := r.TopK; k != nil {
		if *k < 0 {
			return p, fieldErr("top_k", "must not be negative, got %d", *k)
		}
		p.Sampling.TopK = *k
	}
	return p, nil
}

// inRange reports whether v is a finite number in [lo, hi].
func inRange(v, lo, hi float64) bool {
	return !math.IsNaN(v) && v >= lo && v <= hi
}

// messages converts system and the turns to chat messages.
func (r *MessagesRequest) messages() ([]chat.Message, error) {
	if len(r.Messages) == 0 {
		return nil, fieldErr("messages", "at least one message is required")
	}
	var out []chat.Message
	system, err := systemText(r.System)
	if err != nil {
		return nil, err
	}
	if system != "" {
		out = append(out, chat.Message{Role: "system", Content: system})
	}
	for i, m := range r.Messages {
		param := fmt.Sprintf("messages.%d", i)
		blocks, err := contentBlocks(m.Content, param+".content")
		if err != nil {
			return nil, err
		}
		var turn []chat.Message
		switch m.Role {
		case "user":
			turn, err = userTurn(blocks, param)
		case "assistant":
			turn, err = assistantTurn(blocks, param)
		default:
			err = fieldErr(param+".role", "must be \"user\" or \"assistant\", got %q", m.Role)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, turn...)
	}
	return out, nil
}

// systemText reads system: a string or a list of text blocks.
func systemText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	blocks, err := contentBlocks(raw, "system")
	if err != nil {
		return "", err
	}
	var parts []string
	for i, b := range blocks {
		if b.Type != "text" || b.Text == nil {
			return "", fieldErr(fmt.Sprintf("system.%d.type", i), "must be \"text\", got %q", b.Type)
		}
		parts = append(parts, *b.Text)
	}
	return strings.Join(parts, "\n"), nil
}

// contentBlocks reads content that is a string (one text block) or a list
// of blocks.
func contentBlocks(raw json.RawMessage, param string) ([]ContentBlock, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fieldErr(param, "%v", err)
		}
		return []ContentBlock{{Type: "text", Text: &s}}, nil
	}
	var blocks []ContentBlock
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &blocks) != nil {
		return nil, fieldErr(param, "must be a string or a list of content blocks")
	}
	return blocks, nil
}

// userTurn converts a user turn: tool_result blocks become tool messages
// (first, as chat templates expect them right after the assistant's calls),
// text blocks one user message.
func userTurn(blocks []ContentBlock, param string) ([]chat.Message, error) {
	var out []chat.Message
	var text []string
	for i, b := range blocks {
		p := fmt.Sprintf("%s.content.%d", param, i)
		switch b.Type {
		case "text":
			if b.Text == nil {
				return nil, fieldErr(p+".text", "field required")
			}
			text = append(text, *b.Text)
		case "tool_result":
			m, err := toolResult(b, p)
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		default:
			return nil, blockTypeErr(p, b.Type)
		}
	}
	if len(text) > 0 || len(out) == 0 {
		out = append(out, chat.Message{Role: "user", Content: strings.Join(text, "\n")})
	}
	return out, nil
}

// blockTypeErr refuses a block the engine cannot read.
func blockTypeErr(param, typ string) error {
	switch typ {
	case "image", "document", "search_result", "container_upload":
		return &ParamError{Param: param + ".type", Err: fmt.Errorf("%w: %s blocks are not supported", errTextOnly, typ)}
	}
	return fieldErr(param+".type", "unsupported content block type %q", typ)
}

// toolResult converts a tool_result block to a tool message.
func toolResult(b ContentBlock, param string) (chat.Message, error) {
	if b.ToolUseID == "" {
		return chat.Message{}, fieldErr(param+".tool_use_id", "field required")
	}
	var text []string
	if len(b.Content) > 0 && string(b.Content) != "null" {
		blocks, err := contentBlocks(b.Content, param+".content")
		if err != nil {
			return chat.Message{}, err
		}
		for i, c := range blocks {
			if c.Type != "text" || c.Text == nil {
				return chat.Message{}, blockTypeErr(fmt.Sprintf("%s.content.%d", param, i), c.Type)
			}
			text = append(text, *c.Text)
		}
	}
	return chat.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: strings.Join(text, "\n")}, nil
}

// assistantTurn converts an assistant turn: text, thinking (as the
// message's reasoning) and tool_use blocks (as tool calls).
func assistantTurn(blocks []ContentBlock, param string) ([]chat.Message, error) {
	m := chat.Message{Role: "assistant"}
	var text, thinking []string
	for i, b := range blocks {
		p := fmt.Sprintf("%s.content.%d", param, i)
		switch b.Type {
		case "text":
			if b.Text == nil {
				return nil, fieldErr(p+".text", "field required")
			}
			text = append(text, *b.Text)
		case "thinking":
			if b.Thinking != nil {
				thinking = append(thinking, *b.Thinking)
			}
		case "redacted_thinking":
			// Encrypted reasoning of another provider: nothing to show the model.
		case "tool_use":
			call, err := toolUse(b, p)
			if err != nil {
				return nil, err
			}
			m.ToolCalls = append(m.ToolCalls, call)
		default:
			return nil, blockTypeErr(p, b.Type)
		}
	}
	m.Content, m.ReasoningContent = strings.Join(text, "\n"), strings.Join(thinking, "\n")
	return []chat.Message{m}, nil
}

// toolUse converts a tool_use block to an OpenAI tool call.
func toolUse(b ContentBlock, param string) (chat.ToolCall, error) {
	if b.ID == "" || b.Name == "" {
		return chat.ToolCall{}, fieldErr(param, "tool_use needs an id and a name")
	}
	var args map[string]any
	if err := json.Unmarshal(b.Input, &args); err != nil || args == nil {
		return chat.ToolCall{}, fieldErr(param+".input", "must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b.Input); err != nil {
		return chat.ToolCall{}, fieldErr(param+".input", "%v", err)
	}
	return chat.ToolCall{ID: b.ID, Type: "function", Function: chat.FunctionCall{Name: b.Name, Arguments: buf.String()}}, nil
}

// anthropicTools converts client tools to OpenAI function tools.
func anthropicTools(tools []AnthropicTool) (json.RawMessage, error) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]functionTool, len(tools))
	for i, t := range tools {
		p := fmt.Sprintf("tools.%d", i)
		switch {
		case t.Type != "" && t.Type != "custom":
			return nil, fieldErr(p+".type", "server tool %q is not supported; define a client tool with input_schema", t.Type)
		case t.Name == "":
			return nil, fieldErr(p+".name", "field required")
		case !isJSONObject(t.InputSchema):
			return nil, fieldErr(p+".input_schema", "must be a JSON schema object")
		}
		out[i] = functionTool{Type: "function", Function: toolFunction{Name: t.Name, Description: t.Description, Parameters: t.InputSchema}}
	}
	return json.Marshal(out)
}

// isJSONObject reports whether raw is a JSON object.
func isJSONObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

// anthropicToolChoice maps tool_choice to the engine's: auto, any
// (required), tool (its name) or none.
func anthropicToolChoice(c *AnthropicChoice) (engine.ToolChoice, error) {
	if c == nil {
		return "", nil
	}
	switch c.Type {
	case "auto":
		return engine.ToolChoiceAuto, nil
	case "any":
		return engine.ToolChoiceRequired, nil
	case "none":
		return engine.ToolChoiceNone, nil
	case "tool":
		if c.Name == "" {
			return "", fieldErr("tool_choice.name", "field required")
		}
		return engine.ToolChoice(c.Name), nil
	}
	return "", fieldErr("tool_choice.type", "must be auto, any, tool or none, got %q", c.Type)
}

// anthropicThinking maps thinking to the engine's reasoning switch: enabled
// on, disabled off, adaptive (or absent) the template's default.
func anthropicThinking(t *AnthropicThinking) (*bool, error) {
	if t == nil {
		return nil, nil
	}
	on, off := true, false
	switch t.Type {
	case "enabled":
		if t.BudgetTokens < 1 {
			return nil, fieldErr("thinking.budget_tokens", "must be at least 1, got %d", t.BudgetTokens)
		}
		return &on, nil
	case "disabled":
		return &off, nil
	case "adaptive":
		return nil, nil
	}
	return nil, fieldErr("thinking.type", "must be enabled, disabled or adaptive, got %q", t.Type)
}
