package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/store"
)

// Limits of the generation endpoints.
const (
	// MaxGenerationBody caps a generation request's body. A 128k-token
	// context is well under 1 MB of text; the rest leaves room for tool
	// definitions and long conversations.
	MaxGenerationBody = 8 << 20
	// maxStops is the most stop strings a request may give.
	maxStops = 16
	// maxTopLogprobs is the most alternatives per token (OpenAI's limit).
	maxTopLogprobs = 20
)

// DefaultMaxTokens is the answer-length ceiling of the default settings
// (requests.max_tokens). Handlers read the stored setting through
// requestLimits; this is for code without a Handler.
var DefaultMaxTokens = store.DefaultSettings().Requests.MaxTokens

// decodeRequest reads a JSON request body into v. Malformed JSON, invalid
// UTF-8, trailing data and wrong types are ErrInvalidRequest; a wrong type
// names the field as a ParamError; an oversized body is ErrBodyTooLarge.
func decodeRequest(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxGenerationBody))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("%w: the body is empty (send a JSON object)", ErrInvalidRequest)
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: the body is not valid UTF-8", ErrInvalidRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return fmt.Errorf("%w: malformed JSON: data after the object", ErrInvalidRequest)
	}
	return nil
}

// jsonError describes a decoding failure, naming the field for a wrong type.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%w: malformed JSON at byte %d: %v", ErrInvalidRequest, syn.Offset, err)
	case errors.As(err, &typ) && typ.Field != "":
		field := wireField(typ.Field)
		return &ParamError{Param: field, Err: fmt.Errorf("%s must be %s, not JSON %s", field, jsonType(typ.Type.Kind().String()), typ.Value)}
	case errors.As(err, &typ):
		return fmt.Errorf("%w: the body must be a JSON object, not %s", ErrInvalidRequest, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: malformed JSON: the body ends early", ErrInvalidRequest)
	}
	return fmt.Errorf("%w: malformed JSON: %v", ErrInvalidRequest, err)
}

// wireField drops the Go names of embedded structs (GenerationFields) from
// a decoding error's field path, leaving the JSON names a client sent.
func wireField(path string) string {
	parts := strings.Split(path, ".")
	for len(parts) > 1 && parts[0] != "" && unicode.IsUpper(rune(parts[0][0])) {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

// jsonType names a Go kind as a JSON type for error messages.
func jsonType(kind string) string {
	switch kind {
	case "int", "int32", "int64", "uint64":
		return "an integer"
	case "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}

// paramErr is a ParamError for param with a formatted message.
func paramErr(param, format string, args ...any) error {
	return &ParamError{Param: param, Err: fmt.Errorf(format, args...)}
}

// requestLimits are the settings that bound one request (the most tokens
// and choices), with the defaults where a setting is unset.
func (h *Handler) requestLimits() (store.RequestSettings, error) {
	s, err := h.backend.Settings()
	if err != nil {
		return store.RequestSettings{}, fmt.Errorf("read settings: %w", err)
	}
	r, def := s.Requests, store.DefaultSettings().Requests
	if r.MaxTokens < 1 {
		r.MaxTokens = def.MaxTokens
	}
	if r.MaxChoices < 1 {
		r.MaxChoices = def.MaxChoices
	}
	return r, nil
}

// capMaxTokens bounds a request's token budget by the max_tokens setting
// (the engine bounds it by the context as well).
func (h *Handler) capMaxTokens(p *engine.Params) error {
	limits, err := h.requestLimits()
	if err != nil {
		return err
	}
	p.MaxTokens = min(p.MaxTokens, limits.MaxTokens)
	return nil
}

// choices returns n (default 1), checked against the limit.
func (g *GenerationFields) choices(limit int) (int, error) {
	if g.N == nil {
		return 1, nil
	}
	if *g.N < 1 || *g.N > limit {
		return 0, paramErr("n", "n is %d; it must be between 1 and %d", *g.N, limit)
	}
	return *g.N, nil
}

// params turns the shared fields into engine parameters; maxTokens is the
// endpoint's length field (max_tokens or max_completion_tokens) and its name.
// The answer length is max_tokens capped at ceiling (the setting), or the
// ceiling when absent; the engine further bounds it by what is left of the
// model's context, so a client that forgot max_tokens gets the rest of the
// context up to the ceiling.
func (g *GenerationFields) params(maxTokens *int, maxName string, ceiling int) (engine.Params, error) {
	p := engine.Params{MaxTokens: ceiling}
	if maxTokens != nil {
		if *maxTokens < 1 {
			return p, paramErr(maxName, "%s is %d; it must be at least 1", maxName, *maxTokens)
		}
		p.MaxTokens = min(*maxTokens, ceiling)
	}
	if err := g.sampling(&p); err != nil {
		return p, err
	}
	stops, err := parseStop(g.Stop)
	if err != nil {
		return p, err
	}
	p.Stop = stops
	return p, nil
}

// rangeCheck is one numeric field and its allowed closed range.
type rangeCheck struct {
	name     string
	v        *float64
	min, max float64
}

// sampling fills p.Sampling, checking every range.
func (g *GenerationFields) sampling(p *engine.Params) error {
	checks := []rangeCheck{
		{"temperature", g.Temperature, 0, 2}, {"top_p", g.TopP, 0, 1}, {"min_p", g.MinP, 0, 1},
		{"presence_penalty", g.PresencePenalty, -2, 2}, {"frequency_penalty", g.FrequencyPenalty, -2, 2},
		{"repetition_penalty", g.RepetitionPenalty, 0, 10},
	}
	for _, c := range checks {
		if c.v != nil && !(*c.v >= c.min && *c.v <= c.max) {
			return paramErr(c.name, "%s is %g; it must be between %g and %g", c.name, *c.v, c.min, c.max)
		}
	}
	s := &p.Sampling
	s.Temperature = deref(g.Temperature, 1)
	s.TopP = deref(g.TopP, 0)
	s.MinP = deref(g.MinP, 0)
	s.PresencePenalty, s.FrequencyPenalty = deref(g.PresencePenalty, 0), deref(g.FrequencyPenalty, 0)
	s.RepetitionPenalty = deref(g.RepetitionPenalty, 0)
	if g.TopK != nil {
		if *g.TopK < 0 {
			return paramErr("top_k", "top_k is %d; it must not be negative", *g.TopK)
		}
		s.TopK = *g.TopK
	}
	if g.Seed != nil {
		seed := uint64(*g.Seed)
		s.Seed = &seed
	}
	p.IgnoreEOS = g.IgnoreEOS
	bias, err := parseLogitBias(g.LogitBias)
	s.LogitBias = bias
	return err
}

// deref returns *v, or def when v is nil.
func deref(v *float64, def float64) float64 {
	if v == nil {
		return def
	}
	return *v
}

// parseLogitBias turns {"token id": bias} into token ids.
func parseLogitBias(m map[string]float64) (map[int]float64, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[int]float64, len(m))
	for k, v := range m {
		id, err := strconv.Atoi(k)
		if err != nil || id < 0 {
			return nil, paramErr("logit_bias", "logit_bias key %q is not a token id", k)
		}
		if !(v >= -100 && v <= 100) {
			return nil, paramErr("logit_bias", "logit_bias for token %d is %g; it must be between -100 and 100", id, v)
		}
		out[id] = v
	}
	return out, nil
}

// parseStop reads stop: null, a string, or a list of strings.
func parseStop(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, paramErr("stop", "stop must be a string or a list of strings")
	}
	if len(list) > maxStops {
		return nil, paramErr("stop", "stop has %d strings; at most %d are allowed", len(list), maxStops)
	}
	return list, nil
}

// includeUsage reports whether a stream ends with a usage chunk.
func (g *GenerationFields) includeUsage() bool {
	return g.StreamOptions != nil && g.StreamOptions.IncludeUsage
}

// forChoice returns the parameters of generation i of n: a seeded request
// gets seed+i, so the n choices differ yet are reproducible.
func forChoice(p engine.Params, i int) engine.Params {
	if p.Sampling.Seed != nil && i > 0 {
		seed := *p.Sampling.Seed + uint64(i)
		p.Sampling.Seed = &seed
	}
	return p
}
