package soak

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// systemPrompt is the long system prompt every chat request shares, so the
// prefix cache gets hits (about 250 tokens on stories260k's 512-token
// vocabulary, which leaves room in its 512-token context).
const systemPrompt = "You are a storyteller for small children. Every story you tell is short, kind and " +
	"simple. It has a beginning, a middle and an end. The characters are animals or children who " +
	"live in a small village by a river, near a big green forest and a hill with one old tree. " +
	"They like to play, to share their toys, to help their friends and to learn new things. " +
	"Nobody is ever hurt and every story ends happily, with the friends going home for dinner."

// Tool-call and schema requests (on the tool model): small bounded
// arguments so a random-weight model ends within its token budget; the
// grammar guarantees the shape.
const (
	toolsJSON = `[{"type":"function","function":{"name":"get_weather","description":"Weather forecast",` +
		`"parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},` +
		`"days":{"type":"integer","minimum":1,"maximum":14}},"required":["city","days"],"additionalProperties":false}}}]`
	schemaJSON = `{"type":"object","properties":{"unit":{"enum":["c","f"]},"days":{"type":"integer","minimum":1,"maximum":14}},` +
		`"required":["unit","days"],"additionalProperties":false}`
)

// Kinds of request the soak sends, in the order each worker cycles through
// them (workers start at different places).
var kinds = []string{"chat", "chat-stream", "cancelled", "completions", "anthropic-stream",
	"responses", "tool-call", "json-schema", "burst"}

// counts are the outcomes of one kind of request.
type counts struct{ ok, failed atomic.Int64 }

// traffic sends the mixed requests and counts their outcomes.
type traffic struct {
	url, chatModel, toolModel string
	client                    *http.Client
	seq                       atomic.Int64
	byKind                    map[string]*counts
	mu                        sync.Mutex
	firstErrors               []string // a few, for the report
}

func newTraffic(url, chatModel, toolModel string, workers int) *traffic {
	t := &traffic{url: strings.TrimRight(url, "/"), chatModel: chatModel, toolModel: toolModel, byKind: map[string]*counts{},
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers * 4}}}
	for _, k := range kinds {
		t.byKind[k] = &counts{}
	}
	return t
}

// run loops worker w over the kinds until ctx ends.
func (t *traffic) run(ctx context.Context, w int) {
	for i := w; ctx.Err() == nil; i++ {
		kind := kinds[i%len(kinds)]
		if kind == "tool-call" || kind == "json-schema" {
			if t.toolModel == "" {
				continue
			}
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := t.one(rctx, kind)
		cancel()
		if ctx.Err() != nil {
			return // the soak ended mid-request: not the server's failure
		}
		t.record(kind, err)
	}
}

func (t *traffic) record(kind string, err error) {
	c := t.byKind[kind]
	if err == nil {
		c.ok.Add(1)
		return
	}
	c.failed.Add(1)
	t.mu.Lock()
	if len(t.firstErrors) < 10 {
		t.firstErrors = append(t.firstErrors, kind+": "+err.Error())
	}
	t.mu.Unlock()
}

// totals returns the requests that succeeded and failed so far.
func (t *traffic) totals() (ok, failed int64) {
	for _, c := range t.byKind {
		ok += c.ok.Load()
		failed += c.failed.Load()
	}
	return ok, failed
}

// one sends a request of kind and checks its answer.
func (t *traffic) one(ctx context.Context, kind string) error {
	n := t.seq.Add(1)
	user := fmt.Sprintf("Tell me story number %d, about a %s.", n, []string{"cat", "dog", "bird", "fox", "frog"}[n%5])
	chat := func(stream bool, maxTokens int) map[string]any {
		return map[string]any{"model": t.chatModel, "max_tokens": maxTokens, "seed": n, "temperature": 0.8, "stream": stream,
			"messages": []map[string]string{{"role": "system", "content": systemPrompt}, {"role": "user", "content": user}}}
	}
	switch kind {
	case "chat":
		return t.chatOnce(ctx, chat(false, 32))
	case "chat-stream":
		body := chat(true, 32)
		body["stream_options"] = map[string]bool{"include_usage": true}
		return t.stream(ctx, "/v1/chat/completions", body, "[DONE]", 0)
	case "cancelled":
		// The client goes away after two events of a long answer.
		return t.stream(ctx, "/v1/chat/completions", chat(true, 200), "", 2)
	case "completions":
		return t.post(ctx, "/v1/completions", map[string]any{"model": t.chatModel, "prompt": systemPrompt + "\n" + user,
			"max_tokens": 24, "seed": n}, nil)
	case "anthropic-stream":
		return t.stream(ctx, "/v1/messages", map[string]any{"model": t.chatModel, "max_tokens": 32, "stream": true,
			"system": systemPrompt, "messages": []map[string]string{{"role": "user", "content": user}}}, "message_stop", 0)
	case "responses":
		return t.post(ctx, "/v1/responses", map[string]any{"model": t.chatModel, "instructions": systemPrompt,
			"input": user, "max_output_tokens": 24, "store": false}, nil)
	case "tool-call":
		return t.toolCall(ctx)
	case "json-schema":
		return t.jsonSchema(ctx)
	case "burst":
		return t.burst(ctx, chat)
	}
	return fmt.Errorf("unknown kind %q", kind)
}

// chatResponse is the part of a chat completion the soak checks.
type chatResponse struct {
	Choices []struct {
		FinishReason string `json:"finish_reason"`
		Message      struct {
			Content   *string `json:"content"`
			ToolCalls []struct {
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
	} `json:"choices"`
	Usage struct {
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func (t *traffic) chatOnce(ctx context.Context, body map[string]any) error {
	var r chatResponse
	if err := t.post(ctx, "/v1/chat/completions", body, &r); err != nil {
		return err
	}
	if len(r.Choices) != 1 || r.Choices[0].Message.Content == nil || r.Usage.CompletionTokens == 0 {
		return fmt.Errorf("chat answer without content or tokens: %+v", r)
	}
	return nil
}

// burst sends four chats sharing the system prompt at once, so they batch.
func (t *traffic) burst(ctx context.Context, chat func(bool, int) map[string]any) error {
	errs := make(chan error, 4)
	for range 4 {
		go func() { errs <- t.chatOnce(ctx, chat(false, 16)) }()
	}
	var first error
	for range 4 {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// toolCall forces a call of the one offered tool; its arguments must be JSON.
func (t *traffic) toolCall(ctx context.Context) error {
	var tools any
	_ = json.Unmarshal([]byte(toolsJSON), &tools)
	var r chatResponse
	err := t.post(ctx, "/v1/chat/completions", map[string]any{"model": t.toolModel, "tools": tools, "tool_choice": "required",
		"max_tokens": 96, "temperature": 0, "reasoning_effort": "none",
		"messages": []map[string]string{{"role": "user", "content": "What is the weather in Oslo for the next three days?"}}}, &r)
	if err != nil {
		return err
	}
	if len(r.Choices) != 1 {
		return fmt.Errorf("tool call: %d choices", len(r.Choices))
	}
	c := r.Choices[0]
	if c.FinishReason == "length" {
		return nil // cut by max_tokens: allowed, as OpenAI does
	}
	if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 || c.Message.ToolCalls[0].Function.Name != "get_weather" ||
		!json.Valid([]byte(c.Message.ToolCalls[0].Function.Arguments)) {
		return fmt.Errorf("forced tool call answered %+v", c)
	}
	return nil
}

// jsonSchema asks for an instance of schemaJSON; a finished answer parses.
func (t *traffic) jsonSchema(ctx context.Context) error {
	var schema any
	_ = json.Unmarshal([]byte(schemaJSON), &schema)
	var r chatResponse
	err := t.post(ctx, "/v1/chat/completions", map[string]any{"model": t.toolModel, "max_tokens": 96, "temperature": 0,
		"reasoning_effort": "none", "messages": []map[string]string{{"role": "user", "content": "Give me a forecast."}},
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "f", "strict": true, "schema": schema}}}, &r)
	if err != nil {
		return err
	}
	if len(r.Choices) != 1 || r.Choices[0].Message.Content == nil {
		return fmt.Errorf("json_schema answer %+v", r)
	}
	var obj struct {
		Unit string `json:"unit"`
		Days int    `json:"days"`
	}
	if r.Choices[0].FinishReason == "stop" {
		if err := json.Unmarshal([]byte(*r.Choices[0].Message.Content), &obj); err != nil || obj.Days < 1 || obj.Days > 14 {
			return fmt.Errorf("json_schema answer %q is not an instance (%v)", *r.Choices[0].Message.Content, err)
		}
	}
	return nil
}

// post sends body as JSON and decodes a 200 answer into out (when not nil).
func (t *traffic) post(ctx context.Context, path string, body, out any) error {
	resp, err := t.send(ctx, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s: read: %w", path, err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s: %w: %.200s", path, err, b)
		}
	}
	return nil
}

// send posts body and requires a 200.
func (t *traffic) send(ctx context.Context, path string, body any) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", t.url+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s: %s", path, resp.Status, msg)
	}
	return resp, nil
}

// stream reads server-sent events until a data or event line contains end;
// with cancelAfter > 0 it hangs up after that many data lines instead.
func (t *traffic) stream(ctx context.Context, path string, body any, end string, cancelAfter int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := t.send(ctx, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	data := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data:") {
			data++
			if cancelAfter > 0 && data >= cancelAfter {
				cancel() // the client disconnects mid-stream
				return nil
			}
		}
		if end != "" && strings.Contains(line, end) {
			return nil
		}
	}
	if cancelAfter > 0 && data > 0 {
		return nil // the answer ended before the hang-up point
	}
	return fmt.Errorf("%s: stream ended after %d events without %q (%v)", path, data, end, sc.Err())
}
