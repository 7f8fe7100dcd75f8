// Package apitest runs LMX's OpenAI-compatible endpoints end to end: `lmx
// serve` on real MLX, driven by raw HTTP and by the official OpenAI SDKs for
// Go, Python and Node, every body checked against OpenAI's OpenAPI document.
package apitest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/openapitest"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// chatModel prepares the model the tests serve and returns its folder; the
// folder's name is the alias requests use. Swap the model here.
func chatModel(t *testing.T) string {
	t.Helper()
	return testmodel.StoriesChat(t, t.TempDir(), "stories-chat")
}

// modelFacts are what the tests need to know of the served model, read
// from its folder so that swapping chatModel is enough.
type modelFacts struct {
	alias   string  // the folder name requests use
	context int     // max_position_embeddings
	eos     []int64 // eos_token_id, one or several
}

// factsOf reads dir's config.json.
func factsOf(t *testing.T, dir string) modelFacts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Context int             `json:"max_position_embeddings"`
		EOS     json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.Context == 0 {
		t.Fatalf("config.json of %s: context %d, %v", dir, cfg.Context, err)
	}
	f := modelFacts{alias: filepath.Base(dir), context: cfg.Context}
	var one int64
	if json.Unmarshal(cfg.EOS, &one) == nil {
		f.eos = []int64{one}
	} else if err := json.Unmarshal(cfg.EOS, &f.eos); err != nil {
		t.Fatalf("eos_token_id of %s: %v", dir, err)
	}
	return f
}

// banEOS is a logit_bias that keeps the model from ending its answer.
func (f modelFacts) banEOS() map[string]float64 {
	bias := map[string]float64{}
	for _, id := range f.eos {
		bias[strconv.FormatInt(id, 10)] = -100
	}
	return bias
}

// greedyTokens is the answer length of the greedy comparisons: long enough
// to show the same continuation, short enough for a slow CPU.
const greedyTokens = 24

// The conversations every client sends.
var (
	storyMessages = []chat.Message{
		{Role: "system", Content: "You tell short stories."},
		{Role: "user", Content: "Tell me about a cat."},
	}
	// toolRoundTrip is the second half of a tool call: the assistant called
	// a tool, the tool answered, the model continues.
	toolRoundTrip = []chat.Message{
		{Role: "user", Content: "What is the weather in Paris?"},
		{Role: "assistant", Content: "", ToolCalls: []chat.ToolCall{{ID: "call_1", Type: "function",
			Function: chat.FunctionCall{Name: "get_weather", Arguments: `{"city":"Paris"}`}}}},
		{Role: "tool", ToolCallID: "call_1", Content: "Sunny, 21 C"},
	}
	completionPrompt = "Once upon a time"
)

// weatherTool is the tool definition the round trip offers.
const weatherTool = `{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}`

// reference is what the engine answers greedily in-process on the same
// folder: the texts every API must reproduce.
type reference struct {
	story, tool, completion string
	storyTokens             int
}

// engineReference loads dir in this process and generates the greedy answers.
func engineReference(t *testing.T, dir string) reference {
	t.Helper()
	mlxtest.Require(t)
	ctx := context.Background()
	m, err := engine.Load(ctx, dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	params := engine.Params{MaxTokens: greedyTokens}
	chatText := func(msgs []chat.Message, tools string) engine.Result {
		req := engine.ChatRequest{Messages: msgs, Params: params}
		if tools != "" {
			req.Tools = json.RawMessage("[" + tools + "]")
		}
		s, err := m.Chat(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		r := engine.Collect(s)
		if r.Err != nil || r.Text == "" {
			t.Fatalf("engine chat: %q %v", r.Text, r.Err)
		}
		return r
	}
	story := chatText(storyMessages, "")
	ref := reference{story: story.Text, storyTokens: story.Usage.CompletionTokens, tool: chatText(toolRoundTrip, weatherTool).Text}
	s, err := m.Complete(ctx, engine.CompletionRequest{Text: completionPrompt, AddSpecial: true, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	if ref.completion = engine.Collect(s).Text; ref.completion == "" {
		t.Fatal("engine completion is empty")
	}
	return ref
}

// client sends raw requests to a server and checks every body it gets
// against OpenAI's schemas.
type client struct {
	t   *testing.T
	url string
	key string
}

// do sends a request and returns the status and body; header may set extra
// headers (and "Host").
func (c *client) do(method, path, body string, header map[string]string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// post sends a JSON body; a non-2xx answer must be OpenAI's error body.
func (c *client) post(path, body string) (int, []byte) {
	c.t.Helper()
	code, b := c.do("POST", path, body, nil)
	if code >= 300 {
		openapitest.Validate(c.t, "ErrorResponse", b)
	}
	return code, b
}

// ok posts body, requires 200 and checks the answer against schema.
func (c *client) ok(path, body, schema string) []byte {
	c.t.Helper()
	code, b := c.post(path, body)
	if code != http.StatusOK {
		c.t.Fatalf("POST %s %s: %d %s", path, body, code, b)
	}
	openapitest.Validate(c.t, schema, b)
	return b
}

// stream posts a streaming request and returns its chunks, each checked
// against schema; the stream must end with [DONE].
func (c *client) stream(path, body, schema string) []json.RawMessage {
	c.t.Helper()
	req, _ := http.NewRequest("POST", c.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("POST %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	chunks, done := readSSE(c.t, resp.Body)
	if !done {
		c.t.Fatalf("stream of %s ended without [DONE]", body)
	}
	for _, ch := range chunks {
		openapitest.Validate(c.t, schema, ch)
	}
	return chunks
}

// readSSE reads "data:" events until [DONE] or the end of the body.
func readSSE(t *testing.T, r io.Reader) ([]json.RawMessage, bool) {
	t.Helper()
	var chunks []json.RawMessage
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			if line != "" && !strings.HasPrefix(line, ":") {
				t.Fatalf("unexpected SSE line %q", line)
			}
			continue
		}
		if data == "[DONE]" {
			return chunks, true
		}
		chunks = append(chunks, json.RawMessage(data))
	}
	return chunks, false
}

// jsonBody marshals v for a request.
func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// decode unmarshals a response body.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// sdkClients is the npm folder holding the official JavaScript SDKs.
func sdkClients(t *testing.T, root string) string {
	t.Helper()
	dir := filepath.Join(root, "internal", "sdkclients")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil {
		t.Fatalf("the JavaScript SDKs are not installed: run build/setup.sh sdkclients")
	}
	return dir
}

// waitFor polls cond until it holds or limit passes.
func waitFor(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cond()
}
