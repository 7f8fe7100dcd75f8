package apitest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/internal/openapitest"
	"github.com/lmx-app/lmx/internal/testutil"
)

// responsesResult is what each client reports of the Responses API.
type responsesResult struct {
	Text       string   `json:"text"`
	Status     string   `json:"status"`
	StreamText string   `json:"stream_text"`
	Events     []string `json:"events"`
	FollowUp   string   `json:"follow_up"`
	Tool       string   `json:"tool"`
	// Bodies are raw JSON bodies the client received, for the schema.
	Bodies []json.RawMessage `json:"bodies"`
}

// responsesOrder is the Responses API's event grammar for text answers.
var responsesOrder = regexp.MustCompile(`^response\.created response\.in_progress (response\.output_item\.added response\.content_part\.added (response\.output_text\.delta )+response\.output_text\.done response\.content_part\.done response\.output_item\.done )+response\.(completed|incomplete) $`)

// TestResponses serves the test model with `lmx serve` on real MLX and
// drives /v1/responses with raw HTTP and the official OpenAI SDKs for Go,
// Python and Node: greedy answers equal the engine's (a follow-up through
// previous_response_id included), every body and event is valid against
// OpenAI's OpenAPI document, and stored responses can be read and deleted.
func TestResponses(t *testing.T) {
	s, turns, _ := serveForTurns(t)
	t.Run("raw", func(t *testing.T) { responsesRaw(t, s) })
	t.Run("go sdk", func(t *testing.T) { checkResponses(t, "Go", s, turns, responsesGo(t, s)) })
	t.Run("python sdk", func(t *testing.T) {
		py := testutil.Python(t)
		if py == "" {
			testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with the openai package (run build/setup.sh py)")
		}
		out := scriptOutput(t, py, filepath.Join("testdata", "responses_client.py"), responsesSpec(t, s))
		checkResponses(t, "Python", s, turns, decode[responsesResult](t, out))
	})
	t.Run("node sdk", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			testutil.Unavailable(t, "LMX_REQUIRE_PY", "node is not installed")
		}
		dir := sdkClients(t, testutil.RepoRoot(t))
		out := scriptOutput(t, "node", filepath.Join("testdata", "responses_client.mjs"), dir, responsesSpec(t, s))
		checkResponses(t, "Node", s, turns, decode[responsesResult](t, out))
	})
}

// checkResponses compares a client's report with the engine's answers.
func checkResponses(t *testing.T, sdk string, s *server, turns turnReference, r responsesResult) {
	t.Helper()
	for _, c := range []struct{ name, got, want string }{
		{"response", r.Text, s.ref.story}, {"streamed response", r.StreamText, s.ref.story},
		{"previous_response_id follow-up", r.FollowUp, turns.followUp}, {"tool round trip", r.Tool, s.ref.tool},
	} {
		if c.got != c.want {
			t.Errorf("%s %s: %q, the engine says %q", sdk, c.name, c.got, c.want)
		}
	}
	wantStatus := "completed"
	if s.ref.storyTokens == greedyTokens {
		wantStatus = "incomplete" // max_output_tokens reached
	}
	if r.Status != wantStatus {
		t.Errorf("%s: status %q, want %q", sdk, r.Status, wantStatus)
	}
	if seq := strings.Join(r.Events, " ") + " "; !responsesOrder.MatchString(seq) {
		t.Errorf("%s: event order %v breaks the Responses stream grammar", sdk, r.Events)
	}
	for _, b := range r.Bodies {
		openapitest.Validate(t, "Response", b)
	}
}

// responsesSpec is what the Python and Node scripts take, as JSON.
func responsesSpec(t *testing.T, s *server) string {
	var tool map[string]any
	_ = json.Unmarshal([]byte(weatherTool), &tool)
	fn := tool["function"].(map[string]any)
	call := toolRoundTrip[1].ToolCalls[0]
	return jsonBody(t, map[string]any{
		"url": s.url + "/v1", "model": s.model, "max_tokens": greedyTokens,
		"instructions": storyMessages[0].Content, "input": storyMessages[1].Content, "follow_up": followUpInput,
		"tool_input": []map[string]any{
			{"role": "user", "content": toolRoundTrip[0].Content},
			{"type": "function_call", "call_id": call.ID, "name": call.Function.Name, "arguments": call.Function.Arguments},
			{"type": "function_call_output", "call_id": call.ID, "output": toolRoundTrip[2].Content},
		},
		"tool": map[string]any{"type": "function", "name": fn["name"], "description": fn["description"], "parameters": fn["parameters"], "strict": false},
	})
}

// responsesRaw checks the wire: the stream's events and sequence numbers,
// and GET and DELETE of a stored response, every body against the schemas.
func responsesRaw(t *testing.T, s *server) {
	c := &client{t: t, url: s.url}
	body := jsonBody(t, map[string]any{"model": s.model, "instructions": storyMessages[0].Content, "input": storyMessages[1].Content,
		"temperature": 0, "max_output_tokens": greedyTokens, "stream": true, "metadata": map[string]string{"run": "raw"}})
	evs := postEvents(t, s.url+"/v1/responses", body, nil)
	var names []string
	var text strings.Builder
	for i, e := range evs {
		openapitest.Validate(t, "ResponseStreamEvent", e.data)
		ev := decode[struct {
			SequenceNumber int    `json:"sequence_number"`
			Delta          string `json:"delta"`
		}](t, e.data)
		if ev.SequenceNumber != i {
			t.Errorf("event %d (%s) has sequence_number %d", i, e.name, ev.SequenceNumber)
		}
		if e.name == "response.output_text.delta" {
			text.WriteString(ev.Delta)
		}
		names = append(names, e.name)
	}
	if !responsesOrder.MatchString(strings.Join(names, " ")+" ") || text.String() != s.ref.story {
		t.Fatalf("stream %v with text %q; the engine says %q", names, text.String(), s.ref.story)
	}
	final := decode[struct{ Response struct{ ID string } }](t, evs[len(evs)-1].data)
	id := final.Response.ID
	code, b := c.do("GET", "/v1/responses/"+id, "", nil)
	if code != http.StatusOK {
		t.Fatalf("GET stored response: %d %s", code, b)
	}
	openapitest.Validate(t, "Response", b)
	if got := decode[struct{ Metadata map[string]string }](t, b); got.Metadata["run"] != "raw" {
		t.Errorf("stored response %s lost its metadata", b)
	}
	code, b = c.do("DELETE", "/v1/responses/"+id, "", nil)
	if del := decode[api.ResponseDeleted](t, b); code != http.StatusOK || del != (api.ResponseDeleted{ID: id, Object: "response", Deleted: true}) {
		t.Fatalf("DELETE: %d %s", code, b)
	}
	if code, b = c.do("GET", "/v1/responses/"+id, "", nil); code != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d %s, want 404", code, b)
	}
	openapitest.Validate(t, "ErrorResponse", b)
}

// responsesGo runs every request through the official Go SDK.
func responsesGo(t *testing.T, s *server) responsesResult {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := openai.NewClient(option.WithBaseURL(s.url+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	params := responses.ResponseNewParams{Model: s.model, Instructions: openai.String(storyMessages[0].Content.(string)),
		Input:       responses.ResponseNewParamsInputUnion{OfString: openai.String(storyMessages[1].Content.(string))},
		Temperature: openai.Float(0), MaxOutputTokens: openai.Int(greedyTokens)}
	var r responsesResult
	resp, err := c.Responses.New(ctx, params)
	if err != nil {
		t.Fatalf("responses: %v", err)
	}
	r.Text, r.Status, r.Bodies = resp.OutputText(), string(resp.Status), []json.RawMessage{json.RawMessage(resp.RawJSON())}

	stream := c.Responses.NewStreaming(ctx, params)
	for stream.Next() {
		ev := stream.Current()
		openapitest.Validate(t, "ResponseStreamEvent", []byte(ev.RawJSON()))
		r.Events = append(r.Events, ev.Type)
		if ev.Type == "response.completed" || ev.Type == "response.incomplete" {
			r.StreamText = ev.Response.OutputText()
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}

	follow := params
	follow.PreviousResponseID = openai.String(resp.ID)
	follow.Input = responses.ResponseNewParamsInputUnion{OfString: openai.String(followUpInput)}
	next, err := c.Responses.New(ctx, follow)
	if err != nil {
		t.Fatalf("follow-up: %v", err)
	}
	r.FollowUp = next.OutputText()
	responsesGoStore(t, ctx, c, params, resp)
	r.Tool = responsesGoTool(t, ctx, c, s)
	return r
}

// responsesGoStore reads a stored response back, deletes it, and checks
// that store: false keeps nothing.
func responsesGoStore(t *testing.T, ctx context.Context, c openai.Client, params responses.ResponseNewParams, resp *responses.Response) {
	got, err := c.Responses.Get(ctx, resp.ID, responses.ResponseGetParams{})
	if err != nil || got.ID != resp.ID || got.OutputText() != resp.OutputText() {
		t.Fatalf("get %s: %v %+v", resp.ID, err, got)
	}
	if err := c.Responses.Delete(ctx, resp.ID); err != nil {
		t.Fatalf("delete: %v", err)
	}
	params.Store = openai.Bool(false)
	unstored, err := c.Responses.New(ctx, params)
	if err != nil {
		t.Fatalf("store false: %v", err)
	}
	for _, id := range []string{resp.ID, unstored.ID} {
		var apiErr *openai.Error
		if _, err := c.Responses.Get(ctx, id, responses.ResponseGetParams{}); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
			t.Errorf("get %s after delete or with store false: %v, want 404", id, err)
		}
	}
}

// responsesGoTool sends the second half of a tool call: the function_call
// item and its function_call_output.
func responsesGoTool(t *testing.T, ctx context.Context, c openai.Client, s *server) string {
	call := toolRoundTrip[1].ToolCalls[0]
	out := responses.ResponseInputItemParamOfFunctionCallOutput(toolRoundTrip[2].Content.(string))
	out.OfFunctionCallOutput.CallID = openai.String(call.ID)
	var tool map[string]any
	_ = json.Unmarshal([]byte(weatherTool), &tool)
	fn := tool["function"].(map[string]any)
	resp, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model: s.model, Temperature: openai.Float(0), MaxOutputTokens: openai.Int(greedyTokens),
		Tools: []responses.ToolUnionParam{{OfFunction: &responses.FunctionToolParam{Name: call.Function.Name,
			Description: openai.String(fn["description"].(string)), Parameters: fn["parameters"].(map[string]any), Strict: openai.Bool(false)}}},
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(toolRoundTrip[0].Content.(string), responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfFunctionCall(call.Function.Arguments, call.ID, call.Function.Name),
			out,
		}},
	})
	if err != nil {
		t.Fatalf("tool round trip: %v", err)
	}
	openapitest.Validate(t, "Response", []byte(resp.RawJSON()))
	return resp.OutputText()
}
