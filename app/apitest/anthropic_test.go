package apitest

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/lmx-app/lmx/internal/testutil"
)

// anthropicResult is what each client reports of the Messages API.
type anthropicResult struct {
	Text         string   `json:"text"`
	StopReason   string   `json:"stop_reason"`
	InputTokens  int      `json:"input_tokens"`
	CacheRead    int      `json:"cache_read_input_tokens"`
	OutputTokens int      `json:"output_tokens"`
	StreamText   string   `json:"stream_text"`
	Events       []string `json:"events"`
	Count        int      `json:"count"`
	Tool         string   `json:"tool"`
}

// TestAnthropic serves the test model with `lmx serve` on real MLX and
// drives POST /v1/messages and /v1/messages/count_tokens with raw HTTP and
// the official Anthropic SDKs for Go, Python and Node: greedy answers equal
// the engine's, usage counts the rendered prompt, streams follow
// Anthropic's event grammar.
func TestAnthropic(t *testing.T) {
	s, turns, _ := serveForTurns(t)
	t.Run("raw stream", func(t *testing.T) { anthropicRawStream(t, s) })
	t.Run("stop sequence", func(t *testing.T) { anthropicStopSequence(t, s) })
	t.Run("go sdk", func(t *testing.T) { checkAnthropic(t, "Go", s, turns, anthropicGo(t, s), false) })
	t.Run("python sdk", func(t *testing.T) {
		py := testutil.Python(t)
		if py == "" {
			testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with the anthropic package (run build/setup.sh py)")
		}
		out := scriptOutput(t, py, filepath.Join("testdata", "anthropic_client.py"), anthropicSpec(t, s))
		checkAnthropic(t, "Python", s, turns, decode[anthropicResult](t, out), false)
	})
	t.Run("node sdk", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			testutil.Unavailable(t, "LMX_REQUIRE_PY", "node is not installed")
		}
		dir := sdkClients(t, testutil.RepoRoot(t))
		out := scriptOutput(t, "node", filepath.Join("testdata", "anthropic_client.mjs"), dir, anthropicSpec(t, s))
		checkAnthropic(t, "Node", s, turns, decode[anthropicResult](t, out), false)
	})
}

// checkAnthropic compares a client's report with the engine's answers.
func checkAnthropic(t *testing.T, sdk string, s *server, turns turnReference, r anthropicResult, withPing bool) {
	t.Helper()
	for _, c := range []struct{ name, got, want string }{
		{"message", r.Text, s.ref.story}, {"streamed message", r.StreamText, s.ref.story}, {"tool round trip", r.Tool, s.ref.tool},
	} {
		if c.got != c.want {
			t.Errorf("%s %s: %q, the engine says %q", sdk, c.name, c.got, c.want)
		}
	}
	wantStop := "end_turn"
	if s.ref.storyTokens == greedyTokens {
		wantStop = "max_tokens"
	}
	// Anthropic counts prompt tokens read from the cache apart from
	// input_tokens; together they are the rendered prompt.
	if r.StopReason != wantStop || r.InputTokens+r.CacheRead != turns.storyPrompt || r.OutputTokens != s.ref.storyTokens || r.Count != turns.storyPrompt {
		t.Errorf("%s: stop %q, usage %d in + %d cache read, %d out, count_tokens %d; want %q, %d in, %d out, count %d",
			sdk, r.StopReason, r.InputTokens, r.CacheRead, r.OutputTokens, r.Count, wantStop, turns.storyPrompt, s.ref.storyTokens, turns.storyPrompt)
	}
	checkAnthropicOrder(t, sdk, r.Events, withPing)
}

// anthropicSpec is what the Python and Node scripts take, as JSON: the
// server, the model, and the conversations in Anthropic's shape.
func anthropicSpec(t *testing.T, s *server) string {
	user, call, result := toolRoundTrip[0], toolRoundTrip[1].ToolCalls[0], toolRoundTrip[2]
	var args, tool map[string]any
	_ = json.Unmarshal([]byte(call.Function.Arguments), &args)
	_ = json.Unmarshal([]byte(weatherTool), &tool)
	fn := tool["function"].(map[string]any)
	return jsonBody(t, map[string]any{
		"url": s.url, "model": s.model, "max_tokens": greedyTokens,
		"system": storyMessages[0].Content, "user": storyMessages[1].Content,
		"tool_user": user.Content, "tool_id": call.ID, "tool_name": call.Function.Name, "tool_args": args,
		"tool_result": result.Content,
		"tool":        map[string]any{"name": fn["name"], "description": fn["description"], "input_schema": fn["parameters"]},
	})
}

// anthropicRawStream checks the exact event sequence on the wire, with the
// headers Anthropic clients send.
func anthropicRawStream(t *testing.T, s *server) {
	body := jsonBody(t, map[string]any{"model": s.model, "max_tokens": greedyTokens, "temperature": 0, "stream": true,
		"system":   []map[string]any{{"type": "text", "text": storyMessages[0].Content, "cache_control": map[string]string{"type": "ephemeral"}}},
		"messages": []map[string]any{{"role": "user", "content": storyMessages[1].Content}},
		"metadata": map[string]string{"user_id": "u1"}})
	evs := postEvents(t, s.url+"/v1/messages", body, map[string]string{
		"x-api-key": "unused", "anthropic-version": "2023-06-01", "anthropic-beta": "prompt-caching-2024-07-31"})
	var names []string
	text := ""
	for _, e := range evs {
		names = append(names, e.name)
		if e.name == "content_block_delta" {
			d := decode[struct{ Delta struct{ Type, Text string } }](t, e.data)
			if d.Delta.Type != "text_delta" {
				t.Errorf("delta %s, want text_delta", e.data)
			}
			text += d.Delta.Text
		}
	}
	checkAnthropicOrder(t, "raw", names, true)
	if text != s.ref.story {
		t.Errorf("streamed text %q, the engine says %q", text, s.ref.story)
	}
}

// anthropicStopSequence stops the greedy story at a string from its middle:
// the answer is the text before it, with stop_reason stop_sequence.
func anthropicStopSequence(t *testing.T, s *server) {
	story, k := s.ref.story, len(s.ref.story)/2
	for k < len(story)-4 && strings.Index(story, story[k:k+4]) != k {
		k++
	}
	stop := story[k : k+4]
	body := jsonBody(t, map[string]any{"model": s.model, "max_tokens": greedyTokens, "temperature": 0, "stop_sequences": []string{stop},
		"system": storyMessages[0].Content, "messages": []map[string]any{{"role": "user", "content": storyMessages[1].Content}}})
	c := &client{t: t, url: s.url}
	code, b := c.do("POST", "/v1/messages", body, nil)
	msg := decode[struct {
		Content      []struct{ Text string }
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}](t, b)
	if code != 200 || len(msg.Content) != 1 || msg.Content[0].Text != story[:k] || msg.StopReason != "stop_sequence" || msg.StopSequence == nil || *msg.StopSequence != stop {
		t.Fatalf("stop at %q: %d %s; want the text %q, stop_reason stop_sequence", stop, code, b, story[:k])
	}
}

// anthropicGo runs every request through the official Go SDK.
func anthropicGo(t *testing.T, s *server) anthropicResult {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := anthropic.NewClient(option.WithBaseURL(s.url), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	system := []anthropic.TextBlockParam{{Text: storyMessages[0].Content.(string), CacheControl: anthropic.NewCacheControlEphemeralParam()}}
	story := []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(storyMessages[1].Content.(string)))}
	params := anthropic.MessageNewParams{Model: anthropic.Model(s.model), MaxTokens: greedyTokens, System: system,
		Messages: story, Temperature: anthropic.Float(0), Metadata: anthropic.MetadataParam{UserID: anthropic.String("u1")}}
	var r anthropicResult
	msg, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	r.Text, r.StopReason = msg.Content[0].Text, string(msg.StopReason)
	r.InputTokens, r.OutputTokens = int(msg.Usage.InputTokens), int(msg.Usage.OutputTokens)
	r.CacheRead = int(msg.Usage.CacheReadInputTokens)

	stream := c.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	for stream.Next() {
		ev := stream.Current()
		r.Events = append(r.Events, string(ev.Type))
		if err := acc.Accumulate(ev); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	r.StreamText = acc.Content[0].Text

	count, err := c.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{Model: anthropic.Model(s.model),
		System: anthropic.MessageCountTokensParamsSystemUnion{OfTextBlockArray: system}, Messages: story})
	if err != nil {
		t.Fatalf("count_tokens: %v", err)
	}
	r.Count = int(count.InputTokens)
	r.Tool = anthropicGoTool(t, ctx, c, s)
	return r
}

// anthropicGoTool sends the second half of a tool call: the assistant's
// tool_use and the user's tool_result.
func anthropicGoTool(t *testing.T, ctx context.Context, c anthropic.Client, s *server) string {
	call := toolRoundTrip[1].ToolCalls[0]
	var args map[string]any
	_ = json.Unmarshal([]byte(call.Function.Arguments), &args)
	tool := anthropic.ToolParam{Name: call.Function.Name, Description: anthropic.String("Current weather"),
		InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}, Required: []string{"city"}}}
	msg, err := c.Messages.New(ctx, anthropic.MessageNewParams{
		Model: anthropic.Model(s.model), MaxTokens: greedyTokens, Temperature: anthropic.Float(0),
		Tools: []anthropic.ToolUnionParam{{OfTool: &tool}},
		Messages: []anthropic.MessageParam{
			anthropic.NewUserMessage(anthropic.NewTextBlock(toolRoundTrip[0].Content.(string))),
			anthropic.NewAssistantMessage(anthropic.NewToolUseBlock(call.ID, args, call.Function.Name)),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock(call.ID, toolRoundTrip[2].Content.(string), false)),
		},
	})
	if err != nil {
		t.Fatalf("tool round trip: %v", err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Type != "text" {
		t.Fatalf("tool round trip answered %+v, want one text block", msg.Content)
	}
	return msg.Content[0].Text
}
