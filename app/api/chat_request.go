package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/store"
)

// chatPlan is a validated chat request: what to ask the engine, n times.
type chatPlan struct {
	req          engine.ChatRequest
	n            int
	logprobs     bool
	parallel     bool
	includeUsage bool
}

// plan validates req within the limits and builds the engine request.
// Every failure is a ParamError naming the field, or ErrInvalidRequest.
func (req *ChatCompletionRequest) plan(limits store.RequestSettings) (*chatPlan, error) {
	p := &chatPlan{parallel: req.ParallelToolCalls == nil || *req.ParallelToolCalls, includeUsage: req.includeUsage()}
	var err error
	if p.n, err = req.choices(limits.MaxChoices); err != nil {
		return nil, err
	}
	maxTokens, maxName := req.MaxCompletionTokens, "max_completion_tokens"
	if maxTokens == nil {
		maxTokens, maxName = req.MaxTokens, "max_tokens"
	}
	if p.req.Params, err = req.params(maxTokens, maxName, limits.MaxTokens); err != nil {
		return nil, err
	}
	if err := req.logprobParams(p); err != nil {
		return nil, err
	}
	if p.req.Format, err = req.chatFormat(); err != nil {
		return nil, err
	}
	if p.req.Messages, err = chatMessages(req.Messages); err != nil {
		return nil, err
	}
	if err := req.toolParams(&p.req); err != nil {
		return nil, err
	}
	return p, req.reasoningParams(&p.req)
}

// logprobParams reads logprobs and top_logprobs.
func (req *ChatCompletionRequest) logprobParams(p *chatPlan) error {
	p.logprobs = req.Logprobs != nil && *req.Logprobs
	p.req.Logprobs = p.logprobs
	if req.TopLogprobs == nil {
		return nil
	}
	top := *req.TopLogprobs
	switch {
	case top < 0 || top > maxTopLogprobs:
		return paramErr("top_logprobs", "top_logprobs is %d; it must be between 0 and %d", top, maxTopLogprobs)
	case top > 0 && !p.logprobs:
		return paramErr("top_logprobs", "top_logprobs needs logprobs set to true")
	}
	p.req.TopLogprobs = top
	return nil
}

// reasoningParams reads reasoning_effort and chat_template_kwargs.
func (req *ChatCompletionRequest) reasoningParams(er *engine.ChatRequest) error {
	on, off := true, false
	switch req.ReasoningEffort {
	case "":
	case "none", "minimal":
		er.Reasoning = &off
	case "low", "medium", "high", "xhigh":
		er.Reasoning = &on
	default:
		return paramErr("reasoning_effort", "reasoning_effort %q is unknown (none, minimal, low, medium, high, xhigh)", req.ReasoningEffort)
	}
	er.TemplateKwargs = req.ChatTemplateKwargs
	return nil
}

// toolParams checks tools and tool_choice.
func (req *ChatCompletionRequest) toolParams(er *engine.ChatRequest) error {
	for i, raw := range req.Tools {
		var tool struct {
			Type     string `json:"type"`
			Function *struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		param := fmt.Sprintf("tools[%d]", i)
		if err := json.Unmarshal(raw, &tool); err != nil {
			return paramErr(param, "%s must be a function tool object: %v", param, err)
		}
		if tool.Type != "function" || tool.Function == nil || tool.Function.Name == "" {
			return paramErr(param, "%s must be {\"type\": \"function\", \"function\": {\"name\": ...}}", param)
		}
	}
	if len(req.Tools) > 0 {
		er.Tools, _ = json.Marshal(req.Tools)
	}
	choice, err := toolChoice(req.ToolChoice)
	if err != nil {
		return err
	}
	if len(req.Tools) == 0 && choice != "" && choice != engine.ToolChoiceAuto && choice != engine.ToolChoiceNone {
		return paramErr("tool_choice", "tool_choice %q needs tools", string(choice))
	}
	er.ToolChoice = choice
	return nil
}

// toolChoice reads tool_choice: "auto", "none", "required", or
// {"type": "function", "function": {"name": ...}}.
func toolChoice(raw json.RawMessage) (engine.ToolChoice, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch c := engine.ToolChoice(s); c {
		case engine.ToolChoiceAuto, engine.ToolChoiceNone, engine.ToolChoiceRequired:
			return c, nil
		}
		return "", paramErr("tool_choice", "tool_choice %q is unknown (auto, none, required, or a function)", s)
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" || named.Function.Name == "" {
		return "", paramErr("tool_choice", "tool_choice must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": ...}}")
	}
	return engine.ToolChoice(named.Function.Name), nil
}

// chatRoles maps the request roles to the roles templates know: developer
// is OpenAI's newer name for system.
var chatRoles = map[string]string{
	"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool",
}

// chatMessages converts the request's messages for the chat template.
// System and developer messages may appear anywhere (agents send them
// mid-conversation); the template decides how to show them.
func chatMessages(raws []json.RawMessage) ([]chat.Message, error) {
	if len(raws) == 0 {
		return nil, paramErr("messages", "messages must hold at least one message")
	}
	out := make([]chat.Message, len(raws))
	for i, raw := range raws {
		m, err := chatMessage(raw, fmt.Sprintf("messages[%d]", i))
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}

// chatMessage converts one message; param names it in errors.
func chatMessage(raw json.RawMessage, param string) (chat.Message, error) {
	var in ChatMessageIn
	if err := json.Unmarshal(raw, &in); err != nil {
		if e, ok := jsonError(err).(*ParamError); ok {
			return chat.Message{}, paramErr(param+"."+e.Param, "%s: %v", param, e.Err)
		}
		return chat.Message{}, paramErr(param, "%s must be a message object", param)
	}
	role, ok := chatRoles[in.Role]
	if !ok {
		return chat.Message{}, paramErr(param+".role", "%s.role %q is unknown (system, developer, user, assistant, tool)", param, in.Role)
	}
	content, err := messageText(in.Content, param+".content", role == "assistant")
	if err != nil {
		return chat.Message{}, err
	}
	m := chat.Message{Role: role, Content: content, Name: in.Name, ToolCallID: in.ToolCallID, ReasoningContent: in.ReasoningContent}
	if len(in.ToolCalls) > 0 && role != "assistant" {
		return m, paramErr(param+".tool_calls", "%s: only assistant messages carry tool_calls", param)
	}
	for j, tc := range in.ToolCalls {
		if tc.Function.Name == "" || (tc.Type != "" && tc.Type != "function") {
			p := fmt.Sprintf("%s.tool_calls[%d]", param, j)
			return m, paramErr(p, "%s must be a function call with a name", p)
		}
		m.ToolCalls = append(m.ToolCalls, chat.ToolCall{ID: tc.ID, Type: "function",
			Function: chat.FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
	}
	return m, nil
}

// messageText reads a content: a string or a list of text parts, joined.
// null is allowed for an assistant message (one that only calls tools).
func messageText(raw json.RawMessage, param string, nullOK bool) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		if nullOK {
			return "", nil
		}
		return "", paramErr(param, "%s is required", param)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var parts []ContentPartIn
	if json.Unmarshal(raw, &parts) != nil {
		return "", paramErr(param, "%s must be a string or a list of content parts", param)
	}
	var b strings.Builder
	for j, part := range parts {
		if part.Type != "text" || part.Text == nil {
			return "", paramErr(fmt.Sprintf("%s[%d]", param, j), "%s[%d]: only text parts are supported, got type %q", param, j, part.Type)
		}
		b.WriteString(*part.Text)
	}
	return b.String(), nil
}
