// Package chat turns a conversation into a model prompt with the model's own
// Jinja chat template, and turns the model's output back into content,
// reasoning and OpenAI-shaped tool calls.
//
// The package is pure Go and stands alone: callers pass the template source
// and special-token strings (LoadTemplate reads them from a model folder).
package chat

// Message is one conversation turn in OpenAI's chat-completions shape.
// Content is a string, a []ContentPart, or nil (an assistant turn that only
// calls tools).
type Message struct {
	Role             string     `json:"role"`
	Content          any        `json:"content"`
	Name             string     `json:"name,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID       string     `json:"tool_call_id,omitempty"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
}

// ContentPart is one element of a multi-part message content, such as
// {"type": "text", "text": "..."}.
type ContentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is the image reference of an "image_url" content part.
type ImageURL struct {
	URL string `json:"url"`
}

// ToolCall is a function call made by the assistant, in OpenAI's shape.
type ToolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
}

// FunctionCall names the called function; Arguments is a JSON object encoded
// as a string, as OpenAI sends it.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}
