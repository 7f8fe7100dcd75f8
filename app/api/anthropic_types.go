package api

import "encoding/json"

// Wire types of Anthropic's Messages API (POST /v1/messages), mirroring
// https://docs.anthropic.com/en/api/messages. Fields LMX does not use
// (cache_control, metadata, service_tier, ...) are accepted and ignored.

// MessagesRequest is the body of POST /v1/messages and, without MaxTokens,
// of POST /v1/messages/count_tokens.
type MessagesRequest struct {
	Model         string             `json:"model"`
	Messages      []AnthropicMessage `json:"messages"`
	System        json.RawMessage    `json:"system,omitempty"`
	MaxTokens     *int               `json:"max_tokens,omitempty"`
	StopSequences []string           `json:"stop_sequences,omitempty"`
	Stream        bool               `json:"stream,omitempty"`
	Temperature   *float64           `json:"temperature,omitempty"`
	TopP          *float64           `json:"top_p,omitempty"`
	TopK          *int               `json:"top_k,omitempty"`
	Tools         []AnthropicTool    `json:"tools,omitempty"`
	ToolChoice    *AnthropicChoice   `json:"tool_choice,omitempty"`
	Thinking      *AnthropicThinking `json:"thinking,omitempty"`
	Metadata      json.RawMessage    `json:"metadata,omitempty"`
}

// AnthropicMessage is one turn: Content is a string or a list of blocks.
type AnthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// ContentBlock is one block of a message, in a request or a response. Which
// fields apply depends on Type: text (Text), thinking (Thinking, Signature),
// redacted_thinking (Data), tool_use (ID, Name, Input) and tool_result
// (ToolUseID, Content, IsError).
type ContentBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	Data      string          `json:"data,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

// AnthropicTool is a client tool: a name and the JSON schema of its input.
type AnthropicTool struct {
	Type        string          `json:"type,omitempty"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// AnthropicChoice is tool_choice: auto, any, tool (with Name) or none.
type AnthropicChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// AnthropicThinking is the thinking setting: enabled (with a budget),
// disabled, or adaptive (the model decides).
type AnthropicThinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

// MessageResponse is the answer of POST /v1/messages, and the message of
// the message_start event (with empty Content and null stop reason).
type MessageResponse struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []ContentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        AnthropicUsage `json:"usage"`
}

// AnthropicUsage counts a message's tokens; InputTokens excludes the ones
// read from the prompt cache.
type AnthropicUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

// TokenCount is the answer of POST /v1/messages/count_tokens.
type TokenCount struct {
	InputTokens int `json:"input_tokens"`
}

// Anthropic stop reasons.
const (
	stopEndTurn      = "end_turn"
	stopMaxTokens    = "max_tokens"
	stopSequence     = "stop_sequence"
	stopToolUse      = "tool_use"
	anthropicMsgType = "message"
)

// AnthropicEvent is one server-sent event of a streamed message: Type is
// both the SSE event name and the "type" field of its data.
type AnthropicEvent struct {
	Type         string           `json:"type"`
	Message      *MessageResponse `json:"message,omitempty"`
	Index        *int             `json:"index,omitempty"`
	ContentBlock *ContentBlock    `json:"content_block,omitempty"`
	Delta        any              `json:"delta,omitempty"` // *BlockDelta or *MessageDelta
	Usage        *AnthropicUsage  `json:"usage,omitempty"`
	Error        *AnthropicError  `json:"error,omitempty"`
}

// BlockDelta is the delta of content_block_delta: Type text_delta (Text),
// thinking_delta (Thinking), signature_delta (Signature) or
// input_json_delta (PartialJSON).
type BlockDelta struct {
	Type        string  `json:"type"`
	Text        *string `json:"text,omitempty"`
	Thinking    *string `json:"thinking,omitempty"`
	Signature   *string `json:"signature,omitempty"`
	PartialJSON *string `json:"partial_json,omitempty"`
}

// MessageDelta is the delta of message_delta; both fields are always sent.
type MessageDelta struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// AnthropicErrorBody is Anthropic's error envelope.
type AnthropicErrorBody struct {
	Type  string         `json:"type"`
	Error AnthropicError `json:"error"`
}

// AnthropicError is the inner object of an Anthropic error.
type AnthropicError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}
