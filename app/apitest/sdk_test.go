package apitest

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/lmx-app/lmx/internal/testutil"
)

// sdkResult is what each SDK script reports: the answers of the greedy
// requests, which must equal the engine's.
type sdkResult struct {
	Models      []string `json:"models"`
	Chat        string   `json:"chat"`
	ChatStream  string   `json:"chat_stream"`
	StreamUsage int      `json:"stream_usage"`
	Completion  string   `json:"completion"`
	CompStream  string   `json:"completion_stream"`
	Tool        string   `json:"tool"`
}

// check compares an SDK's answers with the engine's.
func (s *server) check(t *testing.T, sdk string, r sdkResult) {
	t.Helper()
	if !slices.Contains(r.Models, s.dir) {
		t.Errorf("%s: models %v lack %s", sdk, r.Models, s.dir)
	}
	for _, c := range []struct{ name, got, want string }{
		{"chat", r.Chat, s.ref.story}, {"chat stream", r.ChatStream, s.ref.story},
		{"completion", r.Completion, s.ref.completion}, {"completion stream", r.CompStream, s.ref.completion},
		{"tool round trip", r.Tool, s.ref.tool},
	} {
		if c.got != c.want {
			t.Errorf("%s %s: %q, the engine says %q", sdk, c.name, c.got, c.want)
		}
	}
	if r.StreamUsage != s.ref.storyTokens {
		t.Errorf("%s: streamed usage %d completion tokens, the engine generated %d", sdk, r.StreamUsage, s.ref.storyTokens)
	}
}

func (s *server) testGoSDK(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := openai.NewClient(option.WithBaseURL(s.url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	var r sdkResult
	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatalf("models: %v", err)
	}
	for _, m := range page.Data {
		r.Models = append(r.Models, m.ID)
	}
	params := openai.ChatCompletionNewParams{Model: s.model, Temperature: openai.Float(0), MaxTokens: openai.Int(greedyTokens),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(storyMessages[0].Content.(string)), openai.UserMessage(storyMessages[1].Content.(string))}}
	resp, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatalf("chat: %v", err)
	}
	r.Chat = resp.Choices[0].Message.Content
	params.StreamOptions.IncludeUsage = openai.Bool(true)
	stream := c.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("chat stream: %v", err)
	}
	r.ChatStream, r.StreamUsage = acc.Choices[0].Message.Content, int(acc.Usage.CompletionTokens)
	r.Completion, r.CompStream = s.goCompletions(t, ctx, c)
	r.Tool = s.goToolRoundTrip(t, ctx, c)
	s.check(t, "openai-go", r)
}

// goCompletions runs the greedy completion whole and streamed.
func (s *server) goCompletions(t *testing.T, ctx context.Context, c openai.Client) (string, string) {
	params := openai.CompletionNewParams{Model: openai.CompletionNewParamsModel(s.model), Temperature: openai.Float(0),
		MaxTokens: openai.Int(greedyTokens), Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String(completionPrompt)}}
	resp, err := c.Completions.New(ctx, params)
	if err != nil {
		t.Fatalf("completion: %v", err)
	}
	stream := c.Completions.NewStreaming(ctx, params)
	var text string
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text += ch.Text
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("completion stream: %v", err)
	}
	return resp.Choices[0].Text, text
}

// goToolRoundTrip sends an assistant tool call and the tool's answer.
func (s *server) goToolRoundTrip(t *testing.T, ctx context.Context, c openai.Client) string {
	call := toolRoundTrip[1].ToolCalls[0]
	var fn shared.FunctionDefinitionParam
	var tool struct {
		Function json.RawMessage `json:"function"`
	}
	if err := json.Unmarshal([]byte(weatherTool), &tool); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(tool.Function, &fn); err != nil {
		t.Fatal(err)
	}
	assistant := openai.ChatCompletionAssistantMessageParam{ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{{
		OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: call.ID,
			Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: call.Function.Name, Arguments: call.Function.Arguments}}}}}
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: s.model, Temperature: openai.Float(0), MaxTokens: openai.Int(greedyTokens),
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(fn)},
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage(toolRoundTrip[0].Content.(string)),
			{OfAssistant: &assistant},
			openai.ToolMessage(toolRoundTrip[2].Content.(string), call.ID),
		}})
	if err != nil {
		t.Fatalf("tool round trip: %v", err)
	}
	return resp.Choices[0].Message.Content
}

// sdkArgs is what the Python and Node scripts take: the server, the model
// and the conversations, as JSON.
func (s *server) sdkArgs(t *testing.T) []string {
	spec := map[string]any{"url": s.url + "/v1", "model": s.model, "max_tokens": greedyTokens,
		"story": storyMessages, "tool_messages": toolRoundTrip, "tool": json.RawMessage(weatherTool), "prompt": completionPrompt}
	return []string{jsonBody(t, spec)}
}

// runScript runs an SDK script and decodes the result it prints.
func runScript(t *testing.T, name string, args ...string) sdkResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %v: %v\n%s\n%s", name, args[0], err, out, stderr)
	}
	return decode[sdkResult](t, out)
}

func (s *server) testPythonSDK(t *testing.T) {
	py := testutil.Python(t)
	if py == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with the openai package (run build/setup.sh py)")
	}
	script := filepath.Join("testdata", "openai_client.py")
	s.check(t, "openai (Python)", runScript(t, py, append([]string{script}, s.sdkArgs(t)...)...))
}

func (s *server) testNodeSDK(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "node is not installed")
	}
	dir := sdkClients(t, testutil.RepoRoot(t))
	script := filepath.Join("testdata", "openai_client.mjs")
	s.check(t, "openai (Node)", runScript(t, "node", append([]string{script, dir}, s.sdkArgs(t)...)...))
}
