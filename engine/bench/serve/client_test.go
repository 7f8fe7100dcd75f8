package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Streams as the two servers send them (trimmed to the fields that matter):
// LMX's legacy completion chunks, and mlx_lm.server's with keepalive
// comments during prefill.
const (
	lmxStream = `data: {"object":"text_completion","choices":[{"index":0,"text":"a","finish_reason":null}]}

data: {"object":"text_completion","choices":[{"index":0,"text":"b","finish_reason":null}]}

data: {"object":"text_completion","choices":[{"index":0,"text":"","finish_reason":"length"}]}

data: {"object":"text_completion","choices":[],"usage":{"prompt_tokens":6,"completion_tokens":3,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":0}}}

data: [DONE]

`
	mlxLMStream = `: keepalive 5/6

data: {"object": "text_completion", "choices": [{"index": 0, "finish_reason": null, "text": "x"}]}

data: {"object": "text_completion", "choices": [{"index": 0, "finish_reason": "length", "text": ""}]}

data: {"object": "chat.completion", "choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": 1, "total_tokens": 7, "prompt_tokens_details": {"cached_tokens": 4}}}

data: [DONE]

`
	chatStream = `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}

data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}

data: {"choices":[{"index":0,"delta":{"content":" there"},"finish_reason":"stop"}]}

data: [DONE]

`
)

func TestReadStream(t *testing.T) {
	tests := []struct {
		name   string
		stream string
		want   Sample
		err    error
	}{
		{"lmx", lmxStream, Sample{PromptTokens: 6, CompletionTokens: 3, CachedTokens: 0, FinishReason: "length"}, nil},
		{"mlx_lm.server", mlxLMStream, Sample{PromptTokens: 6, CompletionTokens: 1, CachedTokens: 4, FinishReason: "length"}, nil},
		{"chat without usage counts text chunks", chatStream, Sample{CompletionTokens: 2, CachedTokens: -1, FinishReason: "stop"}, nil},
		{"no text", "data: [DONE]\n\n", Sample{}, errNoTokens},
		{"error object", `data: {"error":{"message":"boom"}}` + "\n\n", Sample{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readStream(strings.NewReader(tt.stream), time.Now())
			if tt.name == "error object" {
				if err == nil || !strings.Contains(err.Error(), "boom") {
					t.Fatalf("error %v, want the server's message", err)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			got.First, got.Last = 0, 0
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestStreamRequest checks the request a server receives and the timing of
// a stream whose first token comes late.
func TestStreamRequest(t *testing.T) {
	var gotPath, gotBody, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		w.Header().Set("Content-Type", "text/event-stream")
		time.Sleep(30 * time.Millisecond)
		fmt.Fprint(w, lmxStream)
	}))
	defer srv.Close()
	e := &Endpoint{Name: "fake", URL: srv.URL + "/", Model: "m", APIKey: "k", Client: srv.Client()}
	s, err := e.Stream(context.Background(), Request{Prompt: " one two", MaxTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/v1/completions" || gotAuth != "Bearer k" {
		t.Fatalf("path %q auth %q", gotPath, gotAuth)
	}
	for _, want := range []string{`"model":"m"`, `"prompt":" one two"`, `"max_tokens":3`, `"temperature":0`,
		`"stream":true`, `"include_usage":true`, `"ignore_eos":true`} {
		if !strings.Contains(gotBody, want) {
			t.Errorf("body %s lacks %s", gotBody, want)
		}
	}
	if s.First < 30*time.Millisecond || s.Last < s.First || s.CompletionTokens != 3 {
		t.Fatalf("sample %+v: want the first token after the 30 ms the server took, 3 tokens", s)
	}
}

func TestStreamHTTPError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":{"message":"model is required"}}`, http.StatusBadRequest)
	}))
	defer srv.Close()
	e := &Endpoint{Name: "fake", URL: srv.URL, Client: srv.Client()}
	_, err := e.Stream(context.Background(), Request{Prompt: "x", MaxTokens: 2})
	if err == nil || !strings.Contains(err.Error(), "model is required") || !strings.Contains(err.Error(), "400") {
		t.Fatalf("error %v, want the status and the server's message", err)
	}
}

func TestResolveModel(t *testing.T) {
	tests := []struct {
		name, list, want string
	}{
		{"the loaded one of several", `{"data":[{"id":"a","loaded":false},{"id":"b","loaded":true}]}`, "b"},
		{"the only one", `{"data":[{"id":"a"}]}`, "a"},
		{"several, none loaded: left out", `{"data":[{"id":"a"},{"id":"b"}]}`, ""},
		{"a broken list: left out", `not json`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tt.list)
			}))
			defer srv.Close()
			e := &Endpoint{URL: srv.URL, Client: srv.Client()}
			e.ResolveModel(context.Background())
			if e.Model != tt.want {
				t.Fatalf("model %q, want %q", e.Model, tt.want)
			}
		})
	}
}

// TestPrompterExactLength checks that prompts of the real tokenizers in the
// fixtures encode to exactly the asked count, and that a seed gives the
// same text.
func TestPrompterExactLength(t *testing.T) {
	for _, name := range []string{"qwen3", "llama3_1"} {
		t.Run(name, func(t *testing.T) {
			p, err := NewPrompter("../../../../shared/fixtures/tokenizers/" + name)
			if err != nil {
				t.Skipf("fixture tokenizer: %v", err)
			}
			for _, n := range []int{2, 100, 1024} {
				text, err := p.Text(n, seeded(7, uint64(n)))
				if err != nil {
					t.Fatalf("%d tokens: %v", n, err)
				}
				again, _ := p.Text(n, seeded(7, uint64(n)))
				if again != text {
					t.Fatalf("%d tokens: the same seed gave another text", n)
				}
			}
			if _, err := p.Text(p.Specials(), rand.New(rand.NewPCG(1, 1))); err == nil {
				t.Fatal("a prompt with no room for words was accepted")
			}
		})
	}
}
