package apitest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// The prefix cache as clients see it: a second request sharing a long
// system prompt reports the tokens it took from the cache (OpenAI's
// prompt_tokens_details.cached_tokens, Anthropic's cache_read_input_tokens)
// and /api/stats counts the hits; with cache.persist_to_disk on, the prefix
// survives a restart of the server.
func TestPrefixCacheThroughTheAPI(t *testing.T) {
	mlxtest.Require(t)
	dir := testmodel.StoriesChat(t, t.TempDir(), "stories-prefix")
	data := filepath.Join(t.TempDir(), "data")
	bin := guitest.Build(t)
	system := "Once upon a time there was a little girl named Lily. " + strings.Repeat("She liked to play in the park with her friends. ", 12)
	ask := func(t *testing.T, url, question string) (prompt, cached int64) {
		t.Helper()
		oc := openai.NewClient(option.WithBaseURL(url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
		resp, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: filepath.Base(dir), Temperature: openai.Float(0), MaxTokens: openai.Int(8),
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system), openai.UserMessage(question)}})
		if err != nil {
			t.Fatal(err)
		}
		return resp.Usage.PromptTokens, resp.Usage.PromptTokensDetails.CachedTokens
	}

	t.Run("first server", func(t *testing.T) {
		url := guitest.Serve(t, bin, os.Environ(), "--data-dir", data, "--model", dir)
		put(t, url+"/api/settings", `{"cache":{"persist_to_disk":true}}`)
		post(t, url+"/api/pool/unload", `{"model":"`+filepath.Base(dir)+`"}`)
		post(t, url+"/api/pool/load", `{"model":"`+filepath.Base(dir)+`"}`)
		if _, cached := ask(t, url, "What did Lily do?"); cached != 0 {
			t.Errorf("first request: %d cached tokens", cached)
		}
		prompt, cached := ask(t, url, "Who were her friends?")
		if cached < 100 || cached >= prompt {
			t.Errorf("second request: %d of %d prompt tokens cached, want the system prompt's", cached, prompt)
		}
		ac := anthropic.NewClient(aoption.WithBaseURL(url), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0))
		msg, err := ac.Messages.New(context.Background(), anthropic.MessageNewParams{Model: anthropic.Model(filepath.Base(dir)),
			MaxTokens: 8, Temperature: anthropic.Float(0), System: []anthropic.TextBlockParam{{Text: system}},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Where was the park?"))}})
		if err != nil {
			t.Fatal(err)
		}
		if msg.Usage.CacheReadInputTokens < 100 {
			t.Errorf("messages: cache_read_input_tokens %d (input_tokens %d)", msg.Usage.CacheReadInputTokens, msg.Usage.InputTokens)
		}
		var stats struct {
			Models []struct {
				ID          string
				PrefixCache struct {
					Hits int64
					Disk *struct{ Writes int64 }
				} `json:"prefix_cache"`
			}
		}
		getJSON(t, url+"/api/stats", &stats)
		if len(stats.Models) != 1 || stats.Models[0].PrefixCache.Hits < 2 || stats.Models[0].PrefixCache.Disk == nil ||
			stats.Models[0].PrefixCache.Disk.Writes < 1 {
			t.Errorf("/api/stats: %+v", stats)
		}
	})
	t.Run("after a restart", func(t *testing.T) {
		url := guitest.Serve(t, bin, os.Environ(), "--data-dir", data, "--model", dir)
		prompt, cached := ask(t, url, "What was Lily's favourite game?")
		if cached < 100 || cached >= prompt {
			t.Errorf("after the restart: %d of %d prompt tokens cached, want the system prompt's from disk", cached, prompt)
		}
	})
}

func put(t *testing.T, url, body string) { t.Helper(); send(t, "PUT", url, body) }

func post(t *testing.T, url, body string) { t.Helper(); send(t, "POST", url, body) }

// send makes a request to a full URL through the package's client and
// requires a 200.
func send(t *testing.T, method, url, body string) []byte {
	t.Helper()
	code, b := (&client{t: t}).do(method, url, body, nil)
	if code != http.StatusOK {
		t.Fatalf("%s %s = %d %s", method, url, code, b)
	}
	return b
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	if err := json.Unmarshal(send(t, "GET", url, ""), v); err != nil {
		t.Fatal(err)
	}
}

// ignore_eos (vLLM's extension, what benchmarks send) generates to
// max_tokens past the model's end of generation.
func TestIgnoreEOS(t *testing.T) {
	mlxtest.Require(t)
	dir := testmodel.StoriesChat(t, t.TempDir(), "stories-eos")
	url := guitest.Serve(t, guitest.Build(t), os.Environ(), "--model", dir)
	complete := func(ignore bool) (int64, string) {
		t.Helper()
		// The bias makes EOS (id 2) the model's every choice.
		body := `{"model":"stories-eos","prompt":[1],"max_tokens":20,"temperature":0,"logit_bias":{"2":100},"ignore_eos":` +
			map[bool]string{true: "true", false: "false"}[ignore] + `}`
		var resp struct {
			Choices []struct {
				FinishReason string `json:"finish_reason"`
			}
			Usage struct {
				CompletionTokens int64 `json:"completion_tokens"`
			}
		}
		b := (&client{t: t, url: url}).ok("/v1/completions", body, "CreateCompletionResponse")
		if err := json.Unmarshal(b, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Usage.CompletionTokens, resp.Choices[0].FinishReason
	}
	n, reason := complete(false)
	if reason != "stop" || n != 0 {
		t.Fatalf("EOS first: %d tokens, finish %q; want 0, stop", n, reason)
	}
	if n, reason = complete(true); reason != "length" || n != 20 {
		t.Errorf("ignore_eos: %d tokens, finish %q; want 20, length", n, reason)
	}
}
