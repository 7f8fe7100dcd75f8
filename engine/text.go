package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/tokenizer"
)

// text is what a model needs to speak text: its tokenizer and chat template,
// read at load. Either may be missing (a base model has no template; a bare
// weights folder no tokenizer); requests needing them fail with the reason.
type text struct {
	tok     *tokenizer.Tokenizer
	tokErr  error
	tmpl    *chat.Template
	tmplErr error
	// grammar is the model's structured-output state, made on first use.
	grammar *structured
}

// loadText reads the tokenizer and chat template of dir. A missing
// tokenizer.json is ErrNoTokenizer; a broken one fails the load.
func loadText(dir string) (text, error) {
	t := text{grammar: &structured{dir: dir}}
	t.tok, t.tokErr = tokenizer.Load(dir)
	if errors.Is(t.tokErr, fs.ErrNotExist) {
		t.tokErr = fmt.Errorf("%w (no tokenizer.json in %s)", ErrNoTokenizer, dir)
	} else if t.tokErr != nil {
		return t, t.tokErr
	}
	t.tmpl, t.tmplErr = chat.LoadTemplate(dir)
	if t.tmplErr != nil && !errors.Is(t.tmplErr, chat.ErrNoTemplate) {
		return t, t.tmplErr
	}
	return t, nil
}

// Tokenizer returns the model's tokenizer, or ErrNoTokenizer.
func (m *Model) Tokenizer() (*tokenizer.Tokenizer, error) { return m.text.tok, m.text.tokErr }

// Template returns the model's chat template, or chat.ErrNoTemplate.
func (m *Model) Template() (*chat.Template, error) {
	if m.text.tmpl == nil && m.text.tmplErr == nil {
		return nil, chat.ErrNoTemplate
	}
	return m.text.tmpl, m.text.tmplErr
}

// Prompt is a rendered and tokenized request.
type Prompt struct {
	Text string
	IDs  []int32
	// Format and Thinking say how to parse the output (chat only).
	format           chat.Format
	thinking, opened bool
	chat             bool
	// tools are the tools shown to the model (after the tool choice) and
	// choice the request's tool choice: a forced one constrains the output.
	tools  json.RawMessage
	choice ToolChoice
}

// RenderChat renders req with the chat template and tokenizes it, as Chat
// does (count_tokens uses it alone).
func (m *Model) RenderChat(req ChatRequest) (*Prompt, error) {
	tmpl, err := m.Template()
	if err != nil {
		return nil, err
	}
	tok, err := m.Tokenizer()
	if err != nil {
		return nil, err
	}
	tools, err := chooseTools(req.Tools, req.ToolChoice)
	if err != nil {
		return nil, err
	}
	kwargs := map[string]any{}
	if req.Reasoning != nil {
		kwargs["enable_thinking"] = *req.Reasoning
	}
	for k, v := range req.TemplateKwargs {
		kwargs[k] = v
	}
	var toolArg any
	if tools != nil {
		toolArg = tools
	}
	s, err := tmpl.Render(req.Messages, toolArg, true, kwargs)
	if err != nil {
		return nil, err
	}
	p := &Prompt{Text: s, IDs: encodePrompt(tok, s, true), chat: true,
		thinking: tmpl.Thinking(), opened: chat.PromptOpensThink(s), tools: tools, choice: req.ToolChoice}
	if tools != nil {
		p.format = tmpl.Format()
	}
	return p, nil
}

// chooseTools applies the tool choice to the offered tools: none drops them,
// a function name keeps that one tool (and must be offered).
func chooseTools(tools json.RawMessage, choice ToolChoice) (json.RawMessage, error) {
	if len(tools) == 0 || string(tools) == "null" || choice == ToolChoiceNone {
		return nil, nil
	}
	var list []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(tools, &list); err != nil {
		return nil, fmt.Errorf("%w: tools: %v", ErrInvalidRequest, err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	switch choice {
	case "", ToolChoiceAuto, ToolChoiceRequired:
		return tools, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(tools, &raw); err != nil {
		return nil, fmt.Errorf("%w: tools: %v", ErrInvalidRequest, err)
	}
	for i, t := range list {
		if t.Function.Name == string(choice) {
			return json.Marshal([]json.RawMessage{raw[i]})
		}
	}
	return nil, fmt.Errorf("%w: tool_choice names %q, which is not among the tools", ErrInvalidRequest, string(choice))
}

// encodePrompt tokenizes a prompt as mlx_lm's generate does: special tokens
// (BOS) are added unless the text already starts with the BOS string (as a
// rendered chat template does). An empty prompt is the BOS token alone.
func encodePrompt(tok *tokenizer.Tokenizer, s string, addSpecial bool) []int32 {
	bos, hasBOS := tok.BOS()
	add := addSpecial && (!hasBOS || !strings.HasPrefix(s, tok.Token(bos)))
	ids := tok.Encode(s, add)
	if len(ids) == 0 && hasBOS {
		ids = []int32{bos}
	}
	return ids
}

// Chat renders req with the model's chat template and starts generating.
// Errors before generation (no template, a template error, a prompt longer
// than the context, bad parameters) are returned here; later ones end the
// stream. Cancelling ctx stops generation within one decode step.
func (m *Model) Chat(ctx context.Context, req ChatRequest) (*Stream, error) {
	p, err := m.RenderChat(req)
	if err != nil {
		return nil, err
	}
	return m.start(ctx, p, req.Params)
}

// Complete continues a raw prompt (text or token ids).
func (m *Model) Complete(ctx context.Context, req CompletionRequest) (*Stream, error) {
	p := &Prompt{Text: req.Text, IDs: req.IDs}
	if p.IDs == nil {
		tok, err := m.Tokenizer()
		if err != nil {
			return nil, err
		}
		p.IDs = encodePrompt(tok, req.Text, req.AddSpecial)
	}
	if len(p.IDs) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, generate.ErrEmptyPrompt)
	}
	return m.start(ctx, p, req.Params)
}

// check validates a request before it is queued; it returns the token budget
// (MaxTokens, bounded by what is left of the context).
func (m *Model) check(p *Prompt, params Params) (int, error) {
	if params.MaxTokens <= 0 {
		return 0, fmt.Errorf("%w: max tokens %d must be positive", ErrInvalidRequest, params.MaxTokens)
	}
	if err := params.Sampling.Validate(m.info.VocabSize); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if params.TopLogprobs < 0 {
		return 0, fmt.Errorf("%w: top logprobs %d must not be negative", ErrInvalidRequest, params.TopLogprobs)
	}
	for i, id := range p.IDs {
		if id < 0 || int(id) >= m.info.VocabSize {
			return 0, fmt.Errorf("%w: %w: token %d at position %d (vocabulary %d)",
				ErrInvalidRequest, generate.ErrTokenRange, id, i, m.info.VocabSize)
		}
	}
	if n := m.info.ContextLength; n > 0 {
		if len(p.IDs) >= n {
			return 0, fmt.Errorf("%w: the prompt has %d tokens, the context holds %d", ErrPromptTooLong, len(p.IDs), n)
		}
		return min(params.MaxTokens, n-len(p.IDs)), nil
	}
	return params.MaxTokens, nil
}

// stopIDs are the ids that end generation: the model's EOS ids (config,
// generation config and tokenizer, merged at load) unless ignored.
func (m *Model) stopIDs(params Params) []int32 {
	if params.IgnoreEOS {
		return nil
	}
	return slices.Clone(m.info.EOSTokenIDs)
}
