package api

import "encoding/json"

// Wire types of OpenAI's Responses API (POST /v1/responses and
// GET/DELETE /v1/responses/{id}), mirroring the OpenAPI document's
// CreateResponse, Response and ResponseStreamEvent. Fields LMX does not use
// (include, truncation, user, service_tier, ...) are accepted and ignored.

// ResponseRequest is the body of POST /v1/responses.
type ResponseRequest struct {
	Model string `json:"model"`
	// Input is a string (one user message) or a list of input items.
	Input              json.RawMessage    `json:"input"`
	Instructions       *string            `json:"instructions"`
	Tools              []ResponseTool     `json:"tools"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	ParallelToolCalls  *bool              `json:"parallel_tool_calls"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Temperature        *float64           `json:"temperature"`
	TopP               *float64           `json:"top_p"`
	Stream             bool               `json:"stream"`
	Store              *bool              `json:"store"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          *ResponseReasoning `json:"reasoning"`
	Metadata           map[string]string  `json:"metadata"`
	// Text holds the output format (structured output).
	Text *ResponseText `json:"text"`
}

// ResponseReasoning is the reasoning setting: effort "none" switches a
// thinking model's reasoning off, any other effort on.
type ResponseReasoning struct {
	Effort  *string `json:"effort,omitempty"`
	Summary *string `json:"summary,omitempty"`
}

// ResponseTool is a function tool in the Responses API's flat shape. Strict
// and Parameters are always sent (null when unset), as the spec requires.
type ResponseTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description *string         `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// ResponseInputItem is one element of input: a message (Role, Content), a
// function_call (CallID, Name, Arguments), a function_call_output (CallID,
// Output) or a reasoning item (Content, Summary). A message may omit Type.
type ResponseInputItem struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Arguments *string         `json:"arguments"`
	Output    json.RawMessage `json:"output"`
	Summary   []ResponsePart  `json:"summary"`
}

// ResponsePart is one content part of an input message (input_text,
// output_text, refusal, input_image, ...) or of a reasoning item.
type ResponsePart struct {
	Type    string  `json:"type"`
	Text    string  `json:"text"`
	Refusal *string `json:"refusal,omitempty"`
}

// Response is the Responses API's response object.
type Response struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	CompletedAt        *int64             `json:"completed_at"`
	Status             string             `json:"status"`
	Error              *ResponseError     `json:"error"`
	IncompleteDetails  *IncompleteDetails `json:"incomplete_details"`
	Instructions       *string            `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	Model              string             `json:"model"`
	Output             []any              `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Store              bool               `json:"store"`
	Temperature        float64            `json:"temperature"`
	TopP               float64            `json:"top_p"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              []ResponseTool     `json:"tools"`
	Truncation         string             `json:"truncation"`
	Metadata           map[string]string  `json:"metadata"`
	Usage              *ResponseUsage     `json:"usage,omitempty"`
}

// ResponseError is why a response failed.
type ResponseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// IncompleteDetails says why a response stopped early.
type IncompleteDetails struct {
	Reason string `json:"reason"`
}

// ResponseUsage counts a response's tokens.
type ResponseUsage struct {
	InputTokens         int                 `json:"input_tokens"`
	InputTokensDetails  InputTokensDetails  `json:"input_tokens_details"`
	OutputTokens        int                 `json:"output_tokens"`
	OutputTokensDetails OutputTokensDetails `json:"output_tokens_details"`
	TotalTokens         int                 `json:"total_tokens"`
}

// InputTokensDetails splits the input tokens by prompt cache use.
type InputTokensDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens"`
}

// OutputTokensDetails counts the reasoning among the output tokens.
type OutputTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// ResponseMessage is an output message item.
type ResponseMessage struct {
	Type    string               `json:"type"`
	ID      string               `json:"id"`
	Status  string               `json:"status"`
	Role    string               `json:"role"`
	Content []ResponseOutputText `json:"content"`
}

// ResponseOutputText is an output_text content part.
type ResponseOutputText struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

// ResponseReasoningItem is an output reasoning item; the model's reasoning
// is its reasoning_text content (LMX makes no summaries).
type ResponseReasoningItem struct {
	Type    string                  `json:"type"`
	ID      string                  `json:"id"`
	Status  string                  `json:"status"`
	Summary []any                   `json:"summary"`
	Content []ResponseReasoningText `json:"content"`
}

// ResponseReasoningText is a reasoning_text content part.
type ResponseReasoningText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// ResponseFunctionCall is an output function_call item.
type ResponseFunctionCall struct {
	Type      string `json:"type"`
	ID        string `json:"id"`
	Status    string `json:"status"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ResponseEvent is one event of a streamed response; Type is both the SSE
// event name and its "type" field. Item, Part and Response are JSON
// snapshots taken when the event was made.
type ResponseEvent struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       json.RawMessage `json:"response,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	Item           json.RawMessage `json:"item,omitempty"`
	Part           json.RawMessage `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Name           string          `json:"name,omitempty"`
	Arguments      *string         `json:"arguments,omitempty"`
	Logprobs       *[]any          `json:"logprobs,omitempty"`
}

// ResponseDeleted is the answer of DELETE /v1/responses/{id}.
type ResponseDeleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}
