package api

import (
	"bytes"
	"errors"
	"math"
	"net/http/httptest"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/store"
)

// The request decoders' fuzz targets: a body goes through decodeRequest and
// the API's validation (what a handler does before it names a model). For
// any body nothing panics, every refusal is a client error (ErrInvalidRequest
// or ErrBodyTooLarge, so a 4xx in the API's shape, never a 500), and an
// accepted request is within the limits the engine relies on.

// fuzzLimits are the default request limits.
var fuzzLimits = store.DefaultSettings().Requests

// decodeFuzz decodes body the way the handlers do.
func decodeFuzz(body []byte, v any) error {
	r := httptest.NewRequest("POST", "/v1/x", bytes.NewReader(body))
	return decodeRequest(httptest.NewRecorder(), r, v)
}

// requireClientError fails unless err is one the API answers with a 4xx.
func requireClientError(t *testing.T, body []byte, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidRequest) && !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("body %q: error %v (%T) is not a client error: it would be a 500", body, err, err)
	}
	if err.Error() == "" {
		t.Fatalf("body %q: empty error message", body)
	}
}

// checkParams fails when accepted parameters are outside what the engine
// takes: no tokens to generate, more than the ceiling (0: no ceiling),
// NaN/Inf sampling values, negative top_logprobs.
func checkParams(t *testing.T, body []byte, p engine.Params, ceiling int) {
	t.Helper()
	if p.MaxTokens < 1 || (ceiling > 0 && p.MaxTokens > ceiling) {
		t.Fatalf("body %q: accepted max tokens %d (ceiling %d)", body, p.MaxTokens, ceiling)
	}
	s := p.Sampling
	for _, v := range []float64{s.Temperature, s.TopP, s.MinP, s.RepetitionPenalty, s.PresencePenalty, s.FrequencyPenalty} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("body %q: accepted a non-finite sampling value in %+v", body, s)
		}
	}
	if p.TopLogprobs < 0 {
		t.Fatalf("body %q: accepted top_logprobs %d", body, p.TopLogprobs)
	}
}

// FuzzOpenAIChatRequest: POST /v1/chat/completions bodies.
func FuzzOpenAIChatRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req ChatCompletionRequest
		err := decodeFuzz(body, &req)
		var p *chatPlan
		if err == nil {
			p, err = req.plan(fuzzLimits)
		}
		if err != nil {
			requireClientError(t, body, err)
			return
		}
		checkParams(t, body, p.req.Params, fuzzLimits.MaxTokens)
		if p.n < 1 || p.n > fuzzLimits.MaxChoices {
			t.Fatalf("body %q: accepted n=%d (limit %d)", body, p.n, fuzzLimits.MaxChoices)
		}
	})
}

// FuzzCompletionsRequest: POST /v1/completions bodies.
func FuzzCompletionsRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","prompt":"Once upon a time","max_tokens":8}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req CompletionRequest
		err := decodeFuzz(body, &req)
		var p *completionPlan
		if err == nil {
			p, err = req.plan(fuzzLimits)
		}
		if err != nil {
			requireClientError(t, body, err)
			return
		}
		if len(p.prompts) == 0 || p.n < 1 || p.n > fuzzLimits.MaxChoices {
			t.Fatalf("body %q: accepted %d prompts, n=%d", body, len(p.prompts), p.n)
		}
		for _, pr := range p.prompts {
			checkParams(t, body, pr.Params, fuzzLimits.MaxTokens)
		}
	})
}

// FuzzResponsesRequest: POST /v1/responses bodies (without a previous
// response: the store is not part of the decoder).
func FuzzResponsesRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","input":"hi","instructions":"be brief"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req ResponseRequest
		err := decodeFuzz(body, &req)
		var cr engine.ChatRequest
		if err == nil {
			cr, _, err = req.chatRequest(nil)
		}
		if err != nil {
			requireClientError(t, body, err)
			return
		}
		// The ceiling is applied later (capMaxTokens), so only the floor here.
		checkParams(t, body, cr.Params, 0)
	})
}

// FuzzAnthropicRequest: POST /v1/messages bodies.
func FuzzAnthropicRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req MessagesRequest
		err := decodeFuzz(body, &req)
		var cr engine.ChatRequest
		if err == nil {
			cr, err = req.chatRequest(false)
		}
		if err != nil {
			requireClientError(t, body, err)
			return
		}
		checkParams(t, body, cr.Params, 0)
	})
}
