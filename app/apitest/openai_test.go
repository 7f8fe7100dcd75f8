package apitest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/openapitest"
)

// server is one `lmx serve` with the test model and the engine's greedy
// answers for it.
type server struct {
	url, model, dir string
	ref             reference
}

// TestOpenAI serves the test model with `lmx serve` on real MLX and checks
// every endpoint through raw HTTP and the official SDKs: the schemas of
// every body and chunk, and greedy answers equal to the engine's own.
func TestOpenAI(t *testing.T) {
	mlxtest.Require(t)
	dir := chatModel(t)
	s := &server{dir: dir, model: filepath.Base(dir), ref: engineReference(t, dir)}
	bin := guitest.Build(t)
	s.url = guitest.Serve(t, bin, os.Environ(), "--model", dir)
	t.Run("models", s.testModels)
	t.Run("chat", s.testChat)
	t.Run("chat stream", s.testChatStream)
	t.Run("chat n and logprobs", s.testChatChoices)
	t.Run("tool round trip", s.testToolRoundTrip)
	t.Run("completions", s.testCompletions)
	t.Run("completions stream", s.testCompletionsStream)
	t.Run("completions prompts", s.testCompletionPrompts)
	t.Run("go sdk", s.testGoSDK)
	t.Run("python sdk", s.testPythonSDK)
	t.Run("node sdk", s.testNodeSDK)
	t.Run("bad input", func(t *testing.T) { badInput(t, bin, s) })
	t.Run("no engine", func(t *testing.T) { noEngine(t, bin, dir) })
}

func (s *server) testModels(t *testing.T) {
	c := &client{t: t, url: s.url}
	var list api.ModelList
	// lmx serve loads --model after it prints its URL.
	waitFor(30*time.Second, func() bool {
		code, b := c.do("GET", "/v1/models", "", nil)
		if code != 200 {
			t.Fatalf("GET /v1/models: %d %s", code, b)
		}
		openapitest.Validate(t, "ListModelsResponse", b)
		list = decode[api.ModelList](t, b)
		return len(list.Data) == 1 && list.Data[0].Loaded
	})
	if len(list.Data) != 1 || list.Data[0].ID != s.dir || !list.Data[0].Loaded || len(list.Data[0].Aliases) != 1 || list.Data[0].Aliases[0] != s.model {
		t.Fatalf("models %+v, want %s loaded with alias %s", list.Data, s.dir, s.model)
	}
	for _, id := range []string{s.model, url.PathEscape(s.dir)} {
		code, b := c.do("GET", "/v1/models/"+id, "", nil)
		if code != 200 {
			t.Fatalf("GET /v1/models/%s: %d %s", id, code, b)
		}
		openapitest.Validate(t, "Model", b)
		if m := decode[api.Model](t, b); m.ID != s.dir {
			t.Fatalf("GET /v1/models/%s = %+v", id, m)
		}
	}
}

// storyRequest is the greedy chat request every client sends.
func (s *server) storyRequest(t *testing.T, extra map[string]any) string {
	req := map[string]any{"model": s.model, "messages": storyMessages, "temperature": 0, "max_tokens": greedyTokens}
	for k, v := range extra {
		req[k] = v
	}
	return jsonBody(t, req)
}

func (s *server) testChat(t *testing.T) {
	c := &client{t: t, url: s.url}
	// A developer message mid-conversation and list content are accepted.
	b := c.ok("/v1/chat/completions", s.storyRequest(t, nil), "CreateChatCompletionResponse")
	resp := decode[api.ChatCompletion](t, b)
	ch := resp.Choices[0]
	if ch.Message.Content == nil || *ch.Message.Content != s.ref.story {
		t.Fatalf("greedy chat %v, the engine says %q", ch.Message.Content, s.ref.story)
	}
	if resp.Usage == nil || resp.Usage.CompletionTokens != s.ref.storyTokens || resp.Usage.TotalTokens != resp.Usage.PromptTokens+resp.Usage.CompletionTokens {
		t.Fatalf("usage %+v, the engine generated %d tokens", resp.Usage, s.ref.storyTokens)
	}
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	if _, ok := raw["usage"].(map[string]any)["prompt_tokens_details"].(map[string]any)["cached_tokens"]; !ok {
		t.Fatalf("usage without prompt_tokens_details.cached_tokens: %s", b)
	}
	s.checkStopAndSeed(t, c)
	parts := []map[string]any{
		{"role": "developer", "content": []map[string]string{{"type": "text", "text": "You tell short stories."}}},
		{"role": "user", "content": []map[string]string{{"type": "text", "text": "Tell me "}, {"type": "text", "text": "about a cat."}}},
		{"role": "system", "content": "Be brief."},
	}
	c.ok("/v1/chat/completions", jsonBody(t, map[string]any{"model": s.model, "messages": parts, "max_completion_tokens": 4,
		"stop": []string{"\n\n"}, "seed": 7, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1, "presence_penalty": 0.5,
		"frequency_penalty": 0.5, "logit_bias": map[string]float64{"5": 1}, "user": "u", "reasoning_effort": "none",
		"response_format": map[string]string{"type": "text"}}), "CreateChatCompletionResponse")
}

// checkStopAndSeed: a stop string cuts the greedy answer where it first
// appears; the same seed samples the same answer.
func (s *server) checkStopAndSeed(t *testing.T, c *client) {
	t.Helper()
	words := strings.Fields(s.ref.story)
	if len(words) < 4 {
		t.Fatalf("the reference answer %q is too short", s.ref.story)
	}
	stop := words[3]
	b := c.ok("/v1/chat/completions", s.storyRequest(t, map[string]any{"stop": stop}), "CreateChatCompletionResponse")
	ch := decode[api.ChatCompletion](t, b).Choices[0]
	if want := s.ref.story[:strings.Index(s.ref.story, stop)]; *ch.Message.Content != want || ch.FinishReason != "stop" {
		t.Fatalf("stop %q: %q (%s), want %q (stop)", stop, *ch.Message.Content, ch.FinishReason, want)
	}
	sampled := func(seed int) string {
		b := c.ok("/v1/chat/completions", s.storyRequest(t, map[string]any{"temperature": 1, "seed": seed}), "CreateChatCompletionResponse")
		return *decode[api.ChatCompletion](t, b).Choices[0].Message.Content
	}
	if a, b := sampled(42), sampled(42); a != b {
		t.Fatalf("seed 42 sampled %q, then %q", a, b)
	}
}

func (s *server) testChatStream(t *testing.T) {
	c := &client{t: t, url: s.url}
	chunks := c.stream("/v1/chat/completions", s.storyRequest(t, map[string]any{"stream": true, "stream_options": map[string]bool{"include_usage": true}}), "CreateChatCompletionStreamResponse")
	var text strings.Builder
	var finish string
	for i, raw := range chunks {
		ch := decode[api.ChatCompletionChunk](t, raw)
		if i == 0 && (len(ch.Choices) != 1 || ch.Choices[0].Delta.Role != "assistant") {
			t.Fatalf("first chunk %s, want the assistant role", raw)
		}
		if i == len(chunks)-1 {
			if len(ch.Choices) != 0 || ch.Usage == nil || ch.Usage.CompletionTokens != s.ref.storyTokens {
				t.Fatalf("last chunk %s, want usage only (%d completion tokens)", raw, s.ref.storyTokens)
			}
			continue
		}
		if ch.Usage != nil {
			t.Fatalf("usage before the last chunk: %s", raw)
		}
		for _, c := range ch.Choices {
			if c.Delta.Content != nil {
				text.WriteString(*c.Delta.Content)
			}
			if c.FinishReason != nil {
				finish = *c.FinishReason
			}
		}
	}
	if text.String() != s.ref.story || finish == "" {
		t.Fatalf("streamed %q (finish %q), the engine says %q", text.String(), finish, s.ref.story)
	}
}

// testChatChoices: n choices with logprobs, each greedy and so equal.
func (s *server) testChatChoices(t *testing.T) {
	c := &client{t: t, url: s.url}
	b := c.ok("/v1/chat/completions", s.storyRequest(t, map[string]any{"n": 3, "logprobs": true, "top_logprobs": 2}), "CreateChatCompletionResponse")
	resp := decode[api.ChatCompletion](t, b)
	if len(resp.Choices) != 3 || resp.Usage.CompletionTokens != 3*s.ref.storyTokens {
		t.Fatalf("%d choices, usage %+v; want 3 of %d tokens", len(resp.Choices), resp.Usage, s.ref.storyTokens)
	}
	for i, ch := range resp.Choices {
		if ch.Index != i || *ch.Message.Content != s.ref.story || ch.Logprobs == nil || len(ch.Logprobs.Content) != s.ref.storyTokens {
			t.Fatalf("choice %d: %+v", i, ch)
		}
		var joined strings.Builder
		for _, lp := range ch.Logprobs.Content {
			joined.WriteString(lp.Token)
			if math.IsNaN(lp.Logprob) || lp.Logprob > 0 || len(lp.TopLogprobs) != 2 || lp.TopLogprobs[0].Logprob < lp.TopLogprobs[1].Logprob {
				t.Fatalf("choice %d token %+v: want a logprob ≤ 0 and 2 sorted alternatives", i, lp)
			}
			if lp.TopLogprobs[0].Token != lp.Token || lp.TopLogprobs[0].Logprob != lp.Logprob {
				t.Fatalf("greedy token %+v is not its own top alternative", lp)
			}
		}
		if !strings.Contains(joined.String(), strings.TrimSpace(s.ref.story)[:8]) {
			t.Fatalf("logprob tokens %q do not spell the answer %q", joined.String(), s.ref.story)
		}
	}
	chunks := c.stream("/v1/chat/completions", s.storyRequest(t, map[string]any{"n": 2, "stream": true, "logprobs": true}), "CreateChatCompletionStreamResponse")
	texts := map[int]*strings.Builder{0: {}, 1: {}}
	for _, raw := range chunks {
		for _, ch := range decode[api.ChatCompletionChunk](t, raw).Choices {
			if ch.Delta.Content != nil {
				texts[ch.Index].WriteString(*ch.Delta.Content)
			}
		}
	}
	if texts[0].String() != s.ref.story || texts[1].String() != s.ref.story {
		t.Fatalf("streamed choices %q %q, want %q", texts[0], texts[1], s.ref.story)
	}
}

// testToolRoundTrip sends the second half of a tool call.
func (s *server) testToolRoundTrip(t *testing.T) {
	c := &client{t: t, url: s.url}
	body := fmt.Sprintf(`{"model":%q,"messages":%s,"tools":[%s],"tool_choice":"auto","parallel_tool_calls":true,"temperature":0,"max_tokens":%d}`,
		s.model, jsonBody(t, toolRoundTrip), weatherTool, greedyTokens)
	b := c.ok("/v1/chat/completions", body, "CreateChatCompletionResponse")
	ch := decode[api.ChatCompletion](t, b).Choices[0]
	if ch.Message.Content == nil || *ch.Message.Content != s.ref.tool {
		t.Fatalf("answer after the tool %v, the engine says %q", ch.Message.Content, s.ref.tool)
	}
}

// noEngine: without the MLX runtime, generation answers 503 with the reason
// (for the model given with --model too) while the model list still answers.
func noEngine(t *testing.T, bin, dir string) {
	url := guitest.Serve(t, bin, guitest.NoEngineEnv(), "--model", dir)
	c := &client{t: t, url: url}
	model := filepath.Base(dir)
	for _, r := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/chat/completions", `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/completions", `{"model":"` + model + `","prompt":"hi"}`},
	} {
		code, b := c.post(r.path, r.body)
		if code != 503 || !strings.Contains(string(b), "engine_unavailable") || !strings.Contains(string(b), "/nonexistent") {
			t.Errorf("%s without MLX: %d %s, want 503 naming the library searched", r.path, code, b)
		}
	}
	code, b := c.do("GET", "/v1/models", "", nil)
	if code != 200 {
		t.Errorf("GET /v1/models without MLX: %d %s", code, b)
	}
	openapitest.Validate(t, "ListModelsResponse", b)
}
