package api

import "encoding/json"

// Wire types of OpenAI's /v1/chat/completions and /v1/completions, mirroring
// the official OpenAPI document (../shared/specs/openai-openapi.yaml). Request
// fields that take several shapes (a string or a list) stay json.RawMessage
// and are decoded in openai_params.go, which names the field at fault.

// GenerationFields are the sampling and length fields the chat and the
// legacy completion requests share.
type GenerationFields struct {
	Model            string             `json:"model"`
	Stream           bool               `json:"stream"`
	StreamOptions    *StreamOptions     `json:"stream_options"`
	MaxTokens        *int               `json:"max_tokens"`
	Temperature      *float64           `json:"temperature"`
	TopP             *float64           `json:"top_p"`
	Seed             *int64             `json:"seed"`
	Stop             json.RawMessage    `json:"stop"`
	N                *int               `json:"n"`
	PresencePenalty  *float64           `json:"presence_penalty"`
	FrequencyPenalty *float64           `json:"frequency_penalty"`
	LogitBias        map[string]float64 `json:"logit_bias"`
	User             string             `json:"user"`
	// Extensions of mlx_lm, vLLM and llama.cpp servers.
	TopK              *int     `json:"top_k"`
	MinP              *float64 `json:"min_p"`
	RepetitionPenalty *float64 `json:"repetition_penalty"`
	// IgnoreEOS (vLLM's) generates past the model's end-of-generation
	// tokens, to max_tokens: benchmarks.
	IgnoreEOS bool `json:"ignore_eos"`
}

// ChatCompletionRequest is the body of POST /v1/chat/completions.
type ChatCompletionRequest struct {
	GenerationFields
	Messages            []json.RawMessage `json:"messages"`
	MaxCompletionTokens *int              `json:"max_completion_tokens"`
	Logprobs            *bool             `json:"logprobs"`
	TopLogprobs         *int              `json:"top_logprobs"`
	Tools               []json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage   `json:"tool_choice"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls"`
	ReasoningEffort     string            `json:"reasoning_effort"`
	ResponseFormat      *ResponseFormat   `json:"response_format"`
	ChatTemplateKwargs  map[string]any    `json:"chat_template_kwargs"`
}

// StreamOptions are the options of a streamed response.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ResponseFormat is the requested output format: "text", "json_object"
// (any JSON object) or "json_schema" (an instance of JSONSchema.Schema),
// enforced while decoding (structured_output.go).
type ResponseFormat struct {
	Type       string              `json:"type"`
	JSONSchema *ResponseJSONSchema `json:"json_schema"`
}

// ResponseJSONSchema is response_format's json_schema. Schema is a JSON
// Schema object (some clients send it as a string holding one); the output
// is held to it whether Strict is set or not.
type ResponseJSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

// ChatMessageIn is one message of a chat request as the client sends it.
// Content stays raw: a string, a list of content parts, or null.
type ChatMessageIn struct {
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	Name             string          `json:"name"`
	ToolCalls        []ToolCallIn    `json:"tool_calls"`
	ToolCallID       string          `json:"tool_call_id"`
	ReasoningContent string          `json:"reasoning_content"`
}

// ToolCallIn is a tool call of an assistant message in a request.
type ToolCallIn struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// ContentPartIn is one element of a list content.
type ContentPartIn struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
}

// ChatCompletion is the body of a non-streamed chat completion.
type ChatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"` // "chat.completion"
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []ChatChoice `json:"choices"`
	Usage   *Usage       `json:"usage,omitempty"`
}

// ChatChoice is one generation of a chat completion.
type ChatChoice struct {
	Index        int            `json:"index"`
	Message      ChatMessageOut `json:"message"`
	Logprobs     *ChatLogprobs  `json:"logprobs"`
	FinishReason string         `json:"finish_reason"`
}

// ChatMessageOut is the assistant's message. Content is null when the
// answer is only tool calls; ReasoningContent is a thinking model's
// reasoning (the field vLLM, DeepSeek and mlx_lm use).
type ChatMessageOut struct {
	Role             string        `json:"role"`
	Content          *string       `json:"content"`
	Refusal          *string       `json:"refusal"`
	ReasoningContent string        `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCallOut `json:"tool_calls,omitempty"`
}

// ToolCallOut is a tool call of the assistant; in a stream delta Index says
// which call the delta belongs to.
type ToolCallOut struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is the called function and its JSON arguments as a string.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ChatCompletionChunk is one server-sent event of a streamed chat completion.
type ChatCompletionChunk struct {
	ID      string            `json:"id"`
	Object  string            `json:"object"` // "chat.completion.chunk"
	Created int64             `json:"created"`
	Model   string            `json:"model"`
	Choices []ChatChunkChoice `json:"choices"`
	Usage   *Usage            `json:"usage,omitempty"`
}

// ChatChunkChoice is one choice's delta in a chunk; FinishReason is null
// until the choice's last chunk.
type ChatChunkChoice struct {
	Index        int           `json:"index"`
	Delta        ChatDelta     `json:"delta"`
	Logprobs     *ChatLogprobs `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

// ChatDelta is the new part of a streamed message.
type ChatDelta struct {
	Role             string        `json:"role,omitempty"`
	Content          *string       `json:"content,omitempty"`
	ReasoningContent string        `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCallOut `json:"tool_calls,omitempty"`
}

// ChatLogprobs are the log-probabilities of a choice's content tokens.
type ChatLogprobs struct {
	Content []TokenLogprob `json:"content"`
	Refusal []TokenLogprob `json:"refusal"`
}

// TokenLogprob is one token with its log-probability and alternatives.
type TokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []TopLogprob `json:"top_logprobs"`
}

// TopLogprob is one alternative at a token position.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// Usage counts a response's tokens. PromptTokensDetails is always present
// (clients read cached_tokens from it).
type Usage struct {
	PromptTokens        int                 `json:"prompt_tokens"`
	CompletionTokens    int                 `json:"completion_tokens"`
	TotalTokens         int                 `json:"total_tokens"`
	PromptTokensDetails PromptTokensDetails `json:"prompt_tokens_details"`
}

// PromptTokensDetails says how many prompt tokens came from the prompt cache.
type PromptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
}

// CompletionRequest is the body of POST /v1/completions (the legacy API).
type CompletionRequest struct {
	GenerationFields
	Prompt   json.RawMessage `json:"prompt"`
	Suffix   *string         `json:"suffix"`
	Echo     bool            `json:"echo"`
	BestOf   *int            `json:"best_of"`
	Logprobs *int            `json:"logprobs"`
}

// Completion is the body of a completion and of each of its stream chunks
// (the legacy API uses one shape for both).
type Completion struct {
	ID      string             `json:"id"`
	Object  string             `json:"object"` // "text_completion"
	Created int64              `json:"created"`
	Model   string             `json:"model"`
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage,omitempty"`
}

// CompletionChoice is one generated text; in a stream FinishReason is null
// until the choice's last chunk, as OpenAI sends it.
type CompletionChoice struct {
	Index        int                 `json:"index"`
	Text         string              `json:"text"`
	Logprobs     *CompletionLogprobs `json:"logprobs"`
	FinishReason *string             `json:"finish_reason"`
}

// CompletionLogprobs are the legacy per-token log-probabilities: parallel
// lists, each top_logprobs entry mapping token text to log-probability.
type CompletionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}

// EmbeddingRequest is the body of POST /v1/embeddings (only its model is read).
type EmbeddingRequest struct {
	Model string `json:"model"`
}
