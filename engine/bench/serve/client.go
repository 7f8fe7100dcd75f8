package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Endpoint is one OpenAI-compatible server under test.
type Endpoint struct {
	// Name labels the engine in reports ("lmx", "mlx_lm.server").
	Name string `json:"name"`
	// URL is the server's base, without /v1 ("http://127.0.0.1:1235").
	URL string `json:"url"`
	// Model is the request's model field; empty leaves it out (mlx_lm.server
	// then uses the model it was started with).
	Model string `json:"model"`
	// APIKey, when set, is sent as a bearer token.
	APIKey string `json:"-"`
	// Chat sends /v1/chat/completions with the prompt as one user message
	// instead of /v1/completions (the chat template adds tokens).
	Chat   bool         `json:"chat"`
	Client *http.Client `json:"-"`
}

// Request is one streamed generation.
type Request struct {
	Prompt    string
	MaxTokens int
}

// Sample is what one streamed response measured. Times count from just
// before the request was sent.
type Sample struct {
	// First and Last are when the first and the last chunk carrying
	// generated text arrived.
	First, Last time.Duration
	// PromptTokens, CompletionTokens and CachedTokens are the server's usage
	// figures; CompletionTokens falls back to the text chunks counted when
	// the server sends no usage, and CachedTokens is -1 when not reported.
	PromptTokens, CompletionTokens, CachedTokens int
	FinishReason                                 string
}

// DecodeTPS is tokens after the first divided by the time after it.
func (s Sample) DecodeTPS() float64 {
	return float64(s.CompletionTokens-1) / (s.Last - s.First).Seconds()
}

// body is the JSON request of both endpoints: greedy, the usage in the
// last chunk, and ignore_eos, which LMX's engine and vLLM honour and
// mlx_lm.server ignores (random prompts on random weights rarely meet EOS;
// Sample.CompletionTokens shows when one did).
type body struct {
	Model         string          `json:"model,omitempty"`
	Prompt        string          `json:"prompt,omitempty"`
	Messages      []message       `json:"messages,omitempty"`
	MaxTokens     int             `json:"max_tokens"`
	Temperature   float64         `json:"temperature"`
	Stream        bool            `json:"stream"`
	StreamOptions map[string]bool `json:"stream_options"`
	IgnoreEOS     bool            `json:"ignore_eos"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chunk is the part of a stream chunk the harness reads, for both APIs.
type chunk struct {
	Choices []struct {
		Text  string `json:"text"`
		Delta struct {
			Content          string `json:"content"`
			Reasoning        string `json:"reasoning"`
			ReasoningContent string `json:"reasoning_content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		PromptTokensDetails *struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Stream sends r and reads the response stream to its end.
func (e *Endpoint) Stream(ctx context.Context, r Request) (Sample, error) {
	req, err := e.newRequest(ctx, r)
	if err != nil {
		return Sample{}, err
	}
	start := time.Now()
	resp, err := e.Client.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return Sample{}, fmt.Errorf("%s: %s: %s", e.Name, resp.Status, bytes.TrimSpace(msg))
	}
	s, err := readStream(resp.Body, start)
	if err != nil {
		return Sample{}, fmt.Errorf("%s: %w", e.Name, err)
	}
	return s, nil
}

// newRequest builds the POST for r.
func (e *Endpoint) newRequest(ctx context.Context, r Request) (*http.Request, error) {
	b := body{Model: e.Model, MaxTokens: r.MaxTokens, Stream: true,
		StreamOptions: map[string]bool{"include_usage": true}, IgnoreEOS: true}
	path := "/v1/completions"
	if e.Chat {
		path, b.Messages = "/v1/chat/completions", []message{{Role: "user", Content: r.Prompt}}
	} else {
		b.Prompt = r.Prompt
	}
	data, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(e.URL, "/")+path, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if e.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.APIKey)
	}
	return req, nil
}

// errNoTokens marks a stream that ended without generated text.
var errNoTokens = errors.New("the stream carried no generated text")

// readStream reads server-sent events up to [DONE] or the end; comment
// lines (mlx_lm.server's ": keepalive" during prefill) are skipped.
func readStream(r io.Reader, start time.Time) (Sample, error) {
	s := Sample{CachedTokens: -1}
	chunks := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			break
		}
		now := time.Since(start)
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return s, fmt.Errorf("stream chunk: %w", err)
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			return s, fmt.Errorf("stream error: %s", c.Error)
		}
		if c.read(&s) {
			if chunks == 0 {
				s.First = now
			}
			s.Last = now
			chunks++
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if chunks == 0 {
		return s, errNoTokens
	}
	if s.CompletionTokens == 0 {
		s.CompletionTokens = chunks
	}
	return s, nil
}

// read copies c's usage and finish reason into s and reports whether c
// carried generated text.
func (c *chunk) read(s *Sample) bool {
	if u := c.Usage; u != nil {
		s.PromptTokens, s.CompletionTokens = u.PromptTokens, u.CompletionTokens
		if u.PromptTokensDetails != nil {
			s.CachedTokens = u.PromptTokensDetails.CachedTokens
		}
	}
	text := false
	for _, ch := range c.Choices {
		if ch.Text != "" || ch.Delta.Content != "" || ch.Delta.Reasoning != "" || ch.Delta.ReasoningContent != "" {
			text = true
		}
		if ch.FinishReason != nil {
			s.FinishReason = *ch.FinishReason
		}
	}
	return text
}

// ResolveModel fills Model when it is empty: the one loaded model that
// GET /v1/models lists (LMX marks it "loaded"), else the only one listed;
// otherwise Model stays empty and requests leave the field out, which
// mlx_lm.server answers with its own model.
func (e *Endpoint) ResolveModel(ctx context.Context) {
	if e.Model != "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(e.URL, "/")+"/v1/models", nil)
	if err != nil {
		return
	}
	if e.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.APIKey)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	var list struct {
		Data []struct {
			ID     string `json:"id"`
			Loaded *bool  `json:"loaded"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return
	}
	var loaded []string
	for _, m := range list.Data {
		if m.Loaded != nil && *m.Loaded {
			loaded = append(loaded, m.ID)
		}
	}
	switch {
	case len(loaded) == 1:
		e.Model = loaded[0]
	case len(loaded) == 0 && len(list.Data) == 1:
		e.Model = list.Data[0].ID
	}
}
