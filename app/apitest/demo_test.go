package apitest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// demoQuestion is asked of the demo model through every API.
const demoQuestion = "What is the capital of France?"

// demoTokens bounds the demo answers: the model says Paris in its first
// sentence, and the CPU backend is slow on real-size models.
const demoTokens = 12

// TestDemoModel serves the demo chat model (SmolLM2-135M-Instruct, imported
// from its GGUF) and asks it a question through the official Go SDKs of each
// API: every answer is the engine's own greedy answer and names Paris.
func TestDemoModel(t *testing.T) {
	mlxtest.Require(t)
	dir := testmodel.Demo(t)
	want := demoReference(t, dir)
	if !strings.Contains(want, "Paris") {
		t.Fatalf("the engine's own answer %q does not name Paris", want)
	}
	url := guitest.Serve(t, guitest.Build(t), os.Environ(), "--model", dir)
	model := filepath.Base(dir) // the short name a user types
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	oc := openai.NewClient(option.WithBaseURL(url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	chatResp, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model,
		Temperature: openai.Float(0), MaxTokens: openai.Int(demoTokens),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(demoQuestion)}})
	if err != nil {
		t.Fatalf("chat completions: %v", err)
	}
	check(t, "chat completions", chatResp.Choices[0].Message.Content, want)

	resp, err := oc.Responses.New(ctx, responses.ResponseNewParams{Model: model,
		Input:       responses.ResponseNewParamsInputUnion{OfString: openai.String(demoQuestion)},
		Temperature: openai.Float(0), MaxOutputTokens: openai.Int(demoTokens)})
	if err != nil {
		t.Fatalf("responses: %v", err)
	}
	check(t, "responses", resp.OutputText(), want)

	ac := anthropic.NewClient(aoption.WithBaseURL(url), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0))
	msg, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: demoTokens,
		Temperature: anthropic.Float(0),
		Messages:    []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(demoQuestion))}})
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	if len(msg.Content) != 1 {
		t.Fatalf("messages answered %d blocks: %+v", len(msg.Content), msg.Content)
	}
	check(t, "messages", msg.Content[0].Text, want)
}

// demoReference is the engine's greedy answer to demoQuestion, in process.
func demoReference(t *testing.T, dir string) string {
	ctx := context.Background()
	m, err := engine.Load(ctx, dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	s, err := m.Chat(ctx, engine.ChatRequest{Messages: []chat.Message{{Role: "user", Content: demoQuestion}},
		Params: engine.Params{MaxTokens: demoTokens}})
	if err != nil {
		t.Fatal(err)
	}
	r := engine.Collect(s)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r.Text
}

// check compares an API's answer with the engine's.
func check(t *testing.T, api, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s answered %q, the engine %q", api, got, want)
	}
}
