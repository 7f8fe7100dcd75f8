package apitest

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/internal/openapitest"
)

// completionRequest is the greedy completion every client sends.
func (s *server) completionRequest(t *testing.T, extra map[string]any) string {
	req := map[string]any{"model": s.model, "prompt": completionPrompt, "temperature": 0, "max_tokens": greedyTokens}
	for k, v := range extra {
		req[k] = v
	}
	return jsonBody(t, req)
}

func (s *server) testCompletions(t *testing.T) {
	c := &client{t: t, url: s.url}
	b := c.ok("/v1/completions", s.completionRequest(t, map[string]any{"logprobs": 2}), "CreateCompletionResponse")
	resp := decode[api.Completion](t, b)
	ch := resp.Choices[0]
	if ch.Text != s.ref.completion || ch.FinishReason == nil {
		t.Fatalf("greedy completion %q, the engine says %q", ch.Text, s.ref.completion)
	}
	lp := ch.Logprobs
	n := resp.Usage.CompletionTokens
	if lp == nil || len(lp.Tokens) != n || len(lp.TokenLogprobs) != n || len(lp.TopLogprobs) != n || len(lp.TextOffset) != n {
		t.Fatalf("logprobs %+v, want %d entries in each list", lp, n)
	}
	for i, v := range lp.TokenLogprobs {
		if math.IsNaN(v) || math.IsInf(v, 0) || v > 0 || len(lp.TopLogprobs[i]) == 0 || len(lp.TopLogprobs[i]) > 2 {
			t.Fatalf("token %d: logprob %v, top %v", i, v, lp.TopLogprobs[i])
		}
		if i > 0 && lp.TextOffset[i] != lp.TextOffset[i-1]+len(lp.Tokens[i-1]) {
			t.Fatalf("text_offset %v do not follow the tokens %q", lp.TextOffset, lp.Tokens)
		}
	}
	b = c.ok("/v1/completions", s.completionRequest(t, map[string]any{"echo": true}), "CreateCompletionResponse")
	if got := decode[api.Completion](t, b).Choices[0].Text; got != completionPrompt+s.ref.completion {
		t.Fatalf("echo %q, want the prompt and %q", got, s.ref.completion)
	}
}

func (s *server) testCompletionsStream(t *testing.T) {
	c := &client{t: t, url: s.url}
	chunks := c.stream("/v1/completions", s.completionRequest(t, map[string]any{"stream": true, "stream_options": map[string]bool{"include_usage": true}}), openapitest.StreamedCompletion)
	var text strings.Builder
	finishes := 0
	for i, raw := range chunks {
		ch := decode[api.Completion](t, raw)
		if i == len(chunks)-1 {
			if len(ch.Choices) != 0 || ch.Usage == nil || ch.Usage.CompletionTokens == 0 {
				t.Fatalf("last chunk %s, want usage only", raw)
			}
			continue
		}
		// Each chunk is also a valid completion object once finished.
		if ch.Choices[0].FinishReason != nil {
			finishes++
			openapitest.Validate(t, "CreateCompletionResponse", raw)
		}
		text.WriteString(ch.Choices[0].Text)
	}
	if text.String() != s.ref.completion || finishes != 1 {
		t.Fatalf("streamed %q with %d finish reasons, the engine says %q", text.String(), finishes, s.ref.completion)
	}
}

// testCompletionPrompts: a list of strings, token ids and token-id lists,
// each choice greedy.
func (s *server) testCompletionPrompts(t *testing.T) {
	c := &client{t: t, url: s.url}
	prompts := []any{
		[]string{completionPrompt, completionPrompt},
		[]int{1, 300, 263, 400, 100},
		[][]int{{1, 300}, {1, 300, 263}},
	}
	for _, p := range prompts {
		t.Run(fmt.Sprint(p), func(t *testing.T) {
			b := c.ok("/v1/completions", s.completionRequest(t, map[string]any{"prompt": p, "n": 2}), "CreateCompletionResponse")
			resp := decode[api.Completion](t, b)
			want := 2
			if l, ok := p.([]string); ok {
				want = 2 * len(l)
			} else if l, ok := p.([][]int); ok {
				want = 2 * len(l)
			}
			if len(resp.Choices) != want {
				t.Fatalf("%d choices, want %d", len(resp.Choices), want)
			}
			for i, ch := range resp.Choices {
				if ch.Index != i || ch.Text == "" || (i%2 == 1 && ch.Text != resp.Choices[i-1].Text) {
					t.Fatalf("choice %d %+v: want greedy choices in pairs", i, ch)
				}
			}
			if _, ok := p.([]string); ok && resp.Choices[0].Text != s.ref.completion {
				t.Fatalf("text %q, the engine says %q", resp.Choices[0].Text, s.ref.completion)
			}
		})
	}
}
