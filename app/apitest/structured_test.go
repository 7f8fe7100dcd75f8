package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// The tools the forced-call tests offer. Strings are bounded (maxLength)
// so that a model with random weights ends its arguments within the token
// budget; the grammar guarantees the rest.
const (
	forcedUser  = "What is the weather in Oslo for the next three days?"
	forcedNamed = "get_time"
	forcedTools = `[{"type":"function","function":{"name":"get_weather","description":"Weather forecast",` +
		`"parameters":{"type":"object","properties":{"city":{"type":"string","maxLength":12},` +
		`"days":{"type":"integer","minimum":1,"maximum":14},"unit":{"enum":["c","f"]}},` +
		`"required":["city","days"],"additionalProperties":false}}},` +
		`{"type":"function","function":{"name":"get_time","description":"Current time",` +
		`"parameters":{"type":"object","properties":{"zone":{"enum":["UTC","CET","PST"]}},"required":["zone"],"additionalProperties":false}}}]`
	// forcedSchema is the response_format the tests ask for.
	forcedSchema = `{"type":"object","properties":{"unit":{"enum":["c","f"]},"days":{"type":"integer","minimum":1,"maximum":14}},` +
		`"required":["unit","days"],"additionalProperties":false}`
	forcedTokens = 96
)

// forcedCall is one tool call a client got.
type forcedCall struct {
	API, Choice, Name, Arguments, Finish string
}

// forcedResult is what the SDK scripts print.
type forcedResult struct {
	Calls   []forcedCall `json:"calls"`
	Formats []struct {
		API, Text, Finish string
	} `json:"formats"`
}

// toolValidators compiles each offered tool's parameters schema.
func toolValidators(t *testing.T) map[string]*jsonschema.Schema {
	var tools []struct {
		Function struct {
			Name       string          `json:"name"`
			Parameters json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
	if err := json.Unmarshal([]byte(forcedTools), &tools); err != nil {
		t.Fatal(err)
	}
	out := map[string]*jsonschema.Schema{}
	for _, tool := range tools {
		out[tool.Function.Name] = compileSchema(t, tool.Function.Parameters)
	}
	return out
}

func compileSchema(t *testing.T, schema []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(schema)))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validJSON reports why text is not an instance of s ("" when it is).
func validJSON(s *jsonschema.Schema, text string) string {
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err == nil {
		err = s.Validate(inst)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// checkCalls requires want calls, each of an offered tool (the named one
// where the choice names it) with valid arguments.
func checkCalls(t *testing.T, client string, calls []forcedCall, want int) {
	t.Helper()
	valid := toolValidators(t)
	if len(calls) != want {
		t.Errorf("%s: %d tool calls, want %d: %+v", client, len(calls), want, calls)
	}
	for _, c := range calls {
		s, ok := valid[c.Name]
		switch {
		case !ok:
			t.Errorf("%s %s %s: call of %q, which is not offered", client, c.API, c.Choice, c.Name)
		case strings.Contains(c.Choice, forcedNamed) && c.Name != forcedNamed:
			t.Errorf("%s %s %s: call of %q", client, c.API, c.Choice, c.Name)
		case validJSON(s, c.Arguments) != "":
			t.Errorf("%s %s %s: arguments %s: %s", client, c.API, c.Choice, c.Arguments, validJSON(s, c.Arguments))
		}
		if c.Finish != "tool_calls" && c.Finish != "completed" && c.Finish != "tool_use" {
			t.Errorf("%s %s %s: finish %q", client, c.API, c.Choice, c.Finish)
		}
	}
}

// TestToolChoiceForced: tool_choice required / a named function (OpenAI chat
// and Responses) and any / tool (Anthropic) give a call of an offered tool
// with valid arguments, through raw HTTP and the official Go, Python and
// Node SDKs, on a model with Qwen3's tool-calling template; response_format
// and text.format json_schema give valid JSON.
func TestToolChoiceForced(t *testing.T) {
	mlxtest.Require(t)
	dir := testmodel.Qwen3Tiny(t, t.TempDir(), "qwen3-tiny")
	url := serveDirInProcess(t, dir)
	model := filepath.Base(dir)
	t.Run("http", func(t *testing.T) { forcedHTTP(t, &client{t: t, url: url}, model) })
	t.Run("go", func(t *testing.T) { forcedGo(t, url, model) })
	args := []string{jsonBody(t, map[string]any{"url": url, "model": model, "max_tokens": forcedTokens, "user": forcedUser,
		"named": forcedNamed, "tools": json.RawMessage(forcedTools), "schema": json.RawMessage(forcedSchema)})}
	t.Run("python", func(t *testing.T) {
		py := testutil.Python(t)
		if py == "" {
			testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with the openai package (run build/setup.sh py)")
		}
		checkScript(t, "python", runForced(t, py, append([]string{filepath.Join("testdata", "forced_tools.py")}, args...)...))
	})
	t.Run("node", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			testutil.Unavailable(t, "LMX_REQUIRE_PY", "node is not installed")
		}
		sdk := sdkClients(t, testutil.RepoRoot(t))
		checkScript(t, "node", runForced(t, "node", append([]string{filepath.Join("testdata", "forced_tools.mjs"), sdk}, args...)...))
	})
}

// checkScript checks an SDK script's six forced calls and two formats.
func checkScript(t *testing.T, sdk string, r forcedResult) {
	checkCalls(t, sdk, r.Calls, 6)
	format := compileSchema(t, []byte(forcedSchema))
	if len(r.Formats) != 2 {
		t.Errorf("%s: %d structured answers, want 2", sdk, len(r.Formats))
	}
	for _, f := range r.Formats {
		if why := validJSON(format, f.Text); why != "" || (f.Finish != "stop" && f.Finish != "completed") {
			t.Errorf("%s %s: %q (finish %s): %s", sdk, f.API, f.Text, f.Finish, why)
		}
	}
}

func runForced(t *testing.T, name string, args ...string) forcedResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s\n%s", name, err, out, stderr)
	}
	return decode[forcedResult](t, out)
}

// forcedHTTP sends the forced requests as raw JSON, whole and streamed
// (each body checked against the OpenAPI schemas by the client).
func forcedHTTP(t *testing.T, c *client, model string) {
	var calls []forcedCall
	user := fmt.Sprintf(`[{"role":"user","content":%q}]`, forcedUser)
	for _, choice := range []string{`"required"`, `{"type":"function","function":{"name":"` + forcedNamed + `"}}`} {
		body := fmt.Sprintf(`{"model":%q,"messages":%s,"tools":%s,"tool_choice":%s,"temperature":0,"max_tokens":%d,"reasoning_effort":"none"}`,
			model, user, forcedTools, choice, forcedTokens)
		r := decode[struct {
			Choices []struct {
				Message struct {
					ToolCalls []struct {
						Function struct{ Name, Arguments string } `json:"function"`
					} `json:"tool_calls"`
				} `json:"message"`
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
		}](t, c.ok("/v1/chat/completions", body, "CreateChatCompletionResponse"))
		for _, tc := range r.Choices[0].Message.ToolCalls {
			calls = append(calls, forcedCall{"chat", choice, tc.Function.Name, tc.Function.Arguments, r.Choices[0].FinishReason})
		}
		calls = append(calls, streamedCalls(t, c, strings.Replace(body, `"temperature":0`, `"stream":true,"temperature":0`, 1), choice)...)
	}
	checkCalls(t, "http", calls, 4)

	body := fmt.Sprintf(`{"model":%q,"messages":%s,"temperature":0,"max_tokens":%d,"reasoning_effort":"none","response_format":{"type":"json_schema","json_schema":{"name":"w","strict":true,"schema":%s}}}`,
		model, user, forcedTokens, forcedSchema)
	r := decode[struct {
		Choices []struct {
			Message      struct{ Content string } `json:"message"`
			FinishReason string                   `json:"finish_reason"`
		} `json:"choices"`
	}](t, c.ok("/v1/chat/completions", body, "CreateChatCompletionResponse"))
	if why := validJSON(compileSchema(t, []byte(forcedSchema)), r.Choices[0].Message.Content); why != "" || r.Choices[0].FinishReason != "stop" {
		t.Errorf("json_schema answer %q (finish %s): %s", r.Choices[0].Message.Content, r.Choices[0].FinishReason, why)
	}
	// A bad schema on the Responses API is refused with its reason and the
	// server goes on serving.
	code, b := c.post("/v1/responses", fmt.Sprintf(`{"model":%q,"input":"hi","text":{"format":{"type":"json_schema","name":"x","schema":{"type":"object","not":{}}}}}`, model))
	if code != 400 || !strings.Contains(string(b), `Unimplemented keys: [\"not\"]`) {
		t.Errorf("bad text.format schema: %d %s", code, b)
	}
	c.ok("/v1/chat/completions", body, "CreateChatCompletionResponse")
}

// streamedCalls reads a streamed chat completion's tool calls.
func streamedCalls(t *testing.T, c *client, body, choice string) []forcedCall {
	var calls []forcedCall
	finish := ""
	for _, ch := range c.stream("/v1/chat/completions", body, "CreateChatCompletionStreamResponse") {
		var chunk struct {
			Choices []struct {
				Delta struct {
					ToolCalls []struct {
						Function struct{ Name, Arguments string } `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(ch, &chunk); err != nil {
			t.Fatal(err)
		}
		for _, cc := range chunk.Choices {
			for _, tc := range cc.Delta.ToolCalls {
				calls = append(calls, forcedCall{"chat stream", choice, tc.Function.Name, tc.Function.Arguments, ""})
			}
			if cc.FinishReason != nil {
				finish = *cc.FinishReason
			}
		}
	}
	for i := range calls {
		calls[i].Finish = finish
	}
	return calls
}

// forcedGo forces calls with the official Go SDKs.
func forcedGo(t *testing.T, url, model string) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var tools []struct {
		Function shared.FunctionDefinitionParam `json:"function"`
	}
	if err := json.Unmarshal([]byte(forcedTools), &tools); err != nil {
		t.Fatal(err)
	}
	oa := openai.NewClient(option.WithBaseURL(url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	noThink := option.WithJSONSet("reasoning_effort", "none")
	var calls []forcedCall
	chatTools := make([]openai.ChatCompletionToolUnionParam, len(tools))
	for i, tool := range tools {
		chatTools[i] = openai.ChatCompletionFunctionTool(tool.Function)
	}
	for _, choice := range []openai.ChatCompletionToolChoiceOptionUnionParam{
		{OfAuto: openai.String("required")},
		{OfFunctionToolChoice: &openai.ChatCompletionNamedToolChoiceParam{Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: forcedNamed}}},
	} {
		resp, err := oa.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Temperature: openai.Float(0),
			MaxTokens: openai.Int(forcedTokens), Tools: chatTools, ToolChoice: choice,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(forcedUser)}}, noThink)
		if err != nil {
			t.Fatalf("chat: %v", err)
		}
		label, _ := json.Marshal(choice)
		for _, tc := range resp.Choices[0].Message.ToolCalls {
			calls = append(calls, forcedCall{"chat", string(label), tc.Function.Name, tc.Function.Arguments, resp.Choices[0].FinishReason})
		}
	}
	respTools := make([]responses.ToolUnionParam, len(tools))
	for i, tool := range tools {
		respTools[i] = responses.ToolParamOfFunction(tool.Function.Name, tool.Function.Parameters, true)
	}
	r, err := oa.Responses.New(ctx, responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(forcedUser)},
		Tools: respTools, Temperature: openai.Float(0), MaxOutputTokens: openai.Int(forcedTokens),
		ToolChoice: responses.ResponseNewParamsToolChoiceUnion{OfFunctionTool: &responses.ToolChoiceFunctionParam{Name: forcedNamed}}},
		option.WithJSONSet("reasoning", map[string]any{"effort": "none"}))
	if err != nil {
		t.Fatalf("responses: %v", err)
	}
	for _, it := range r.Output {
		if it.Type == "function_call" {
			calls = append(calls, forcedCall{"responses", forcedNamed, it.Name, it.Arguments.OfString, string(r.Status)})
		}
	}
	calls = append(calls, forcedAnthropicGo(t, ctx, url, model, tools)...)
	checkCalls(t, "go", calls, 4)
}

// forcedAnthropicGo forces a call of any tool with the Anthropic Go SDK.
func forcedAnthropicGo(t *testing.T, ctx context.Context, url, model string, tools []struct {
	Function shared.FunctionDefinitionParam `json:"function"`
}) []forcedCall {
	an := anthropic.NewClient(aoption.WithBaseURL(url), aoption.WithAPIKey("unused"), aoption.WithMaxRetries(0))
	var atools []anthropic.ToolUnionParam
	for _, tool := range tools {
		schema := anthropic.ToolInputSchemaParam{Properties: tool.Function.Parameters["properties"]}
		if req, ok := tool.Function.Parameters["required"].([]any); ok {
			for _, r := range req {
				schema.Required = append(schema.Required, r.(string))
			}
		}
		schema.ExtraFields = map[string]any{"additionalProperties": false}
		atools = append(atools, anthropic.ToolUnionParamOfTool(schema, tool.Function.Name))
	}
	msg, err := an.Messages.New(ctx, anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: forcedTokens, Tools: atools,
		ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}},
		Messages:   []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(forcedUser))}},
		aoption.WithJSONSet("temperature", 0), aoption.WithJSONSet("thinking", map[string]any{"type": "disabled"}))
	if err != nil {
		t.Fatalf("messages: %v", err)
	}
	var calls []forcedCall
	for _, b := range msg.Content {
		if b.Type == "tool_use" {
			calls = append(calls, forcedCall{"messages", "any", b.Name, string(b.Input), string(msg.StopReason)})
		}
	}
	return calls
}
