package engine

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/grammar"
)

// Errors of text requests; app/api maps them to client errors.
var (
	// ErrNoTokenizer: the model folder has no tokenizer.json, so it can
	// generate from token ids only.
	ErrNoTokenizer = errors.New("model has no tokenizer")
	// ErrPromptTooLong: the prompt does not fit the model's context.
	ErrPromptTooLong = errors.New("prompt longer than the model's context")
	// ErrInvalidRequest marks a request the engine refuses before generating
	// (bad parameters, a tool choice naming no offered tool, ...).
	ErrInvalidRequest = errors.New("invalid request")
)

// Params are the generation settings shared by chat and completion requests.
type Params struct {
	// MaxTokens is the most tokens to generate (> 0).
	MaxTokens int
	Sampling  generate.Sampling
	// Stop strings end generation; the text from the stop string on is not
	// emitted.
	Stop []string
	// Logprobs attaches each generated token's log-probability to the events,
	// TopLogprobs that many alternatives.
	Logprobs    bool
	TopLogprobs int
	// IgnoreEOS keeps generating past the model's EOS ids (benchmarks).
	IgnoreEOS bool
	// Format constrains the answer (after a thinking model's reasoning) to
	// a JSON Schema, any JSON object or a grammar: structured output,
	// enforced by a token mask at every step. nil: free text. A forced tool
	// choice (ToolChoiceRequired or a function name) takes precedence.
	Format *grammar.Spec
}

// ToolChoice says whether and which tools the model may call: "" or "auto"
// (the model decides, unconstrained), "none" (tools are not shown and no
// call is parsed), "required" (the answer is one call of an offered tool,
// enforced by a grammar), or a function name (one call of that function,
// enforced likewise). See toolgrammar.go for the formats that can enforce.
type ToolChoice string

// Tool choices other than a function name.
const (
	ToolChoiceAuto     ToolChoice = "auto"
	ToolChoiceNone     ToolChoice = "none"
	ToolChoiceRequired ToolChoice = "required"
)

// ChatRequest is a conversation to continue with the model's chat template.
type ChatRequest struct {
	// Messages is []chat.Message, or a JSON array of message objects in
	// OpenAI's chat shape (a json.RawMessage keeps the client's key order).
	Messages any
	// Tools is nil or a JSON array of OpenAI function tool definitions.
	Tools      json.RawMessage
	ToolChoice ToolChoice
	// Reasoning switches a thinking model's reasoning on or off (the
	// template's enable_thinking); nil keeps the template's default.
	Reasoning *bool
	// TemplateKwargs are extra chat template variables
	// (chat_template_kwargs); they override Reasoning.
	TemplateKwargs map[string]any
	Params
}

// CompletionRequest is a raw prompt to continue: Text, or token ids when
// IDs is not nil.
type CompletionRequest struct {
	Text string
	IDs  []int32
	// AddSpecial adds the tokenizer's special tokens (BOS) to Text the way
	// mlx_lm does: unless the text already starts with the BOS string.
	AddSpecial bool
	Params
}

// EventKind says what an Event carries.
type EventKind int

// Event kinds, in the order a stream may produce them; EventDone is last.
const (
	// EventText is a delta of the visible answer.
	EventText EventKind = iota
	// EventReasoning is a delta of a thinking model's reasoning.
	EventReasoning
	// EventToolCall is one complete tool call (name and JSON arguments).
	EventToolCall
	// EventDone ends the stream with the usage, the finish reason and the
	// error, if any.
	EventDone
)

// Finish reasons of EventDone.
const (
	FinishStop      = "stop"       // EOS or a stop string
	FinishLength    = "length"     // MaxTokens reached
	FinishToolCalls = "tool_calls" // the answer ended with tool calls
	FinishError     = "error"      // Err is set (cancelled, MLX failure)
)

// TokenLogprob is one generated token with its log-probability and, on
// request, the most likely alternatives.
type TokenLogprob struct {
	ID      int32
	Text    string
	Logprob float64
	Top     []TokenAlternative
}

// TokenAlternative is a candidate token at one step.
type TokenAlternative struct {
	ID      int32
	Text    string
	Logprob float64
}

// Usage counts a request's tokens.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	// CachedTokens were taken from the prefix cache.
	CachedTokens int
	// CacheExplain says how much of the prompt the prefix cache had and,
	// when the prompt left a cached one, at which token (the request log).
	CacheExplain string
}

// Event is one piece of a request's output stream.
type Event struct {
	Kind     EventKind
	Text     string        // EventText, EventReasoning
	ToolCall chat.ToolCall // EventToolCall
	// Logprobs are the tokens generated since the previous event that
	// carried some, when the request asked for them.
	Logprobs []TokenLogprob
	// EventDone only:
	Usage        Usage
	Timing       Timing
	FinishReason string
	// StopSequence is the stop string that ended the output (FinishStop
	// only; empty when EOS did).
	StopSequence string
	Err          error
}

// Timing is where a request's time went.
type Timing struct {
	// Prefill is the time to process the prompt (to the first token).
	Prefill time.Duration
	// Decode is the time from the first generated token to the last.
	Decode time.Duration
}

// DecodeTPS is the generation speed in tokens per second after the first
// token; 0 when fewer than two tokens were generated.
func (d Event) DecodeTPS() float64 {
	if d.Usage.CompletionTokens < 2 || d.Timing.Decode <= 0 {
		return 0
	}
	return float64(d.Usage.CompletionTokens-1) / d.Timing.Decode.Seconds()
}
