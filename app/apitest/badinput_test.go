package apitest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/internal/openapitest"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// badCase is one bad request and the error it must get.
type badCase struct {
	name   string
	method string // POST when empty
	path   string // /v1/chat/completions when empty
	body   string
	header map[string]string // replaces the valid API key when it sets Authorization
	status int
	param  string // the error's param; "" for null
	text   string // a part of the message
}

const apiKey = "sk-test-key"

// badCases builds the table for the served model and other, the absolute
// folder of a real model that is not in the library.
func badCases(facts modelFacts, other string) []badCase {
	model := facts.alias
	chat := func(extra string) string {
		return fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}],"max_tokens":2%s}`, model, extra)
	}
	comp := func(extra string) string {
		return fmt.Sprintf(`{"model":%q,"prompt":"hi","max_tokens":2%s}`, model, extra)
	}
	long := strings.Repeat("the cat sat on the mat ", facts.context/4)
	return []badCase{
		{name: "malformed json", body: `{"model":`, status: 400, text: "malformed JSON"},
		{name: "not an object", body: `[1,2]`, status: 400, text: "JSON object"},
		{name: "empty body", body: ``, status: 400, text: "empty"},
		{name: "two objects", body: chat("") + `{}`, status: 400, text: "after the object"},
		{name: "bare NaN", body: chat(`,"temperature":NaN`), status: 400, text: "malformed JSON"},
		{name: "invalid utf-8", body: "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", status: 400, text: "UTF-8"},
		{name: "messages a string", body: fmt.Sprintf(`{"model":%q,"messages":"hi"}`, model), status: 400, param: "messages"},
		{name: "temperature a string", body: chat(`,"temperature":"hot"`), status: 400, param: "temperature"},
		{name: "temperature 3", body: chat(`,"temperature":3`), status: 400, param: "temperature"},
		{name: "temperature negative", body: chat(`,"temperature":-0.5`), status: 400, param: "temperature"},
		{name: "temperature 1e400", body: chat(`,"temperature":1e400`), status: 400, param: "temperature"},
		{name: "max_tokens negative", body: chat(`,"max_tokens":-5`), status: 400, param: "max_tokens"},
		{name: "max_tokens zero", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, model), status: 400, param: "max_tokens"},
		{name: "max_tokens huge", body: chat(`,"max_tokens":1e30`), status: 400, param: "max_tokens"},
		{name: "max_tokens fractional", body: chat(`,"max_tokens":1.5`), status: 400, param: "max_tokens"},
		{name: "max_completion_tokens negative", body: chat(`,"max_completion_tokens":-1`), status: 400, param: "max_completion_tokens"},
		{name: "n over the limit", body: chat(`,"n":9`), status: 400, param: "n"},
		{name: "n zero", body: chat(`,"n":0`), status: 400, param: "n"},
		{name: "top_p above 1", body: chat(`,"top_p":1.5`), status: 400, param: "top_p"},
		{name: "top_k negative", body: chat(`,"top_k":-1`), status: 400, param: "top_k"},
		{name: "presence_penalty 5", body: chat(`,"presence_penalty":5`), status: 400, param: "presence_penalty"},
		{name: "repetition_penalty negative", body: chat(`,"repetition_penalty":-1`), status: 400, param: "repetition_penalty"},
		{name: "top_logprobs 21", body: chat(`,"logprobs":true,"top_logprobs":21`), status: 400, param: "top_logprobs"},
		{name: "top_logprobs without logprobs", body: chat(`,"top_logprobs":2`), status: 400, param: "top_logprobs"},
		{name: "logit_bias key not a token", body: chat(`,"logit_bias":{"abc":1}`), status: 400, param: "logit_bias"},
		{name: "logit_bias value 1000", body: chat(`,"logit_bias":{"5":1000}`), status: 400, param: "logit_bias"},
		{name: "logit_bias token outside vocabulary", body: chat(`,"logit_bias":{"99999":1}`), status: 400, text: "vocabulary"},
		{name: "stop a number", body: chat(`,"stop":5`), status: 400, param: "stop"},
		{name: "stop 17 strings", body: chat(`,"stop":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]`), status: 400, param: "stop"},
		{name: "empty messages", body: fmt.Sprintf(`{"model":%q,"messages":[]}`, model), status: 400, param: "messages"},
		{name: "missing messages", body: fmt.Sprintf(`{"model":%q}`, model), status: 400, param: "messages"},
		{name: "unknown role", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"wizard","content":"hi"}]}`, model), status: 400, param: "messages[0].role"},
		{name: "function role", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"function","content":"hi"}]}`, model), status: 400, param: "messages[0].role"},
		{name: "content a number", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":5}]}`, model), status: 400, param: "messages[0].content"},
		{name: "user content null", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":null}]}`, model), status: 400, param: "messages[0].content"},
		{name: "image part", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://x"}}]}]}`, model), status: 400, param: "messages[0].content[0]"},
		{name: "tool_calls on a user message", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi","tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, model), status: 400, param: "messages[0].tool_calls"},
		{name: "response_format unknown type", body: chat(`,"response_format":{"type":"yaml"}`), status: 400, param: "response_format.type", text: "yaml"},
		{name: "response_format json_schema without json_schema", body: chat(`,"response_format":{"type":"json_schema"}`), status: 400, param: "response_format.json_schema"},
		{name: "schema not JSON", body: chat(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":"{\"type\": \"object\""}}`), status: 400, param: "response_format.schema", text: "not JSON"},
		{name: "schema recursive without base case", body: chat(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","properties":{"next":{"$ref":"#"}},"required":["next"]}}}`), status: 400, text: "no finite value"},
		{name: "schema of 1 MB", body: chat(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","description":"` + strings.Repeat("x", 1<<20) + `"}}}`), status: 400, text: "more than the limit"},
		{name: "schema with an unsupported keyword", body: chat(`,"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,"schema":{"type":"object","not":{"required":["a"]}}}}`), status: 400, text: `Unimplemented keys: ["not"]`},
		{name: "tool_choice required on a template without tool syntax", body: chat(`,"tools":[` + weatherTool + `],"tool_choice":"required"`), status: 400, text: "no tool-call syntax"},
		{name: "tool_choice required without tools", body: chat(`,"tool_choice":"required"`), status: 400, param: "tool_choice"},
		{name: "tool_choice unknown string", body: chat(`,"tool_choice":"sometimes"`), status: 400, param: "tool_choice"},
		{name: "tool_choice names an absent tool", body: chat(`,"tools":[` + weatherTool + `],"tool_choice":{"type":"function","function":{"name":"nope"}}`), status: 400, text: "nope"},
		{name: "tool without a name", body: chat(`,"tools":[{"type":"function","function":{}}]`), status: 400, param: "tools[0]"},
		{name: "reasoning_effort unknown", body: chat(`,"reasoning_effort":"extreme"`), status: 400, param: "reasoning_effort"},
		{name: "missing model", body: `{"messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "model"},
		{name: "unknown model", body: `{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}`, status: 404, text: "not installed"},
		{name: "path traversal model", body: `{"model":"../../../etc/passwd","messages":[{"role":"user","content":"hi"}]}`, status: 404, text: "not installed"},
		{name: "model folder outside the library", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, other), status: 404, text: "not installed"},
		{name: "prompt longer than the context", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, model, long), status: 400, text: fmt.Sprintf("the context holds %d", facts.context)},
		{name: "10 MB body", body: fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, model, strings.Repeat("a", 10<<20)), status: 413},
		{name: "no api key", body: chat(""), header: map[string]string{"Authorization": ""}, status: 401},
		{name: "wrong api key", body: chat(""), header: map[string]string{"Authorization": "Bearer sk-wrong"}, status: 401},
		{name: "wrong host", body: chat(""), header: map[string]string{"Host": "evil.example"}, status: 403},
		{name: "foreign origin", body: chat(""), header: map[string]string{"Origin": "http://evil.example"}, status: 403},
		{name: "GET chat", method: "GET", status: 405},
		{name: "completion suffix", path: "/v1/completions", body: comp(`,"suffix":"end"`), status: 400, param: "suffix"},
		{name: "completion prompt an object", path: "/v1/completions", body: fmt.Sprintf(`{"model":%q,"prompt":{"a":1}}`, model), status: 400, param: "prompt"},
		{name: "completion prompt empty list", path: "/v1/completions", body: fmt.Sprintf(`{"model":%q,"prompt":[]}`, model), status: 400, param: "prompt"},
		{name: "completion token outside vocabulary", path: "/v1/completions", body: fmt.Sprintf(`{"model":%q,"prompt":[1,99999],"max_tokens":2}`, model), status: 400, text: "vocabulary"},
		{name: "completion negative token", path: "/v1/completions", body: fmt.Sprintf(`{"model":%q,"prompt":[-4],"max_tokens":2}`, model), status: 400, text: "token"},
		{name: "completion logprobs 6", path: "/v1/completions", body: comp(`,"logprobs":6`), status: 400, param: "logprobs"},
		{name: "completion echo with logprobs", path: "/v1/completions", body: comp(`,"echo":true,"logprobs":1`), status: 400, param: "logprobs"},
		{name: "completion best_of", path: "/v1/completions", body: comp(`,"best_of":3`), status: 400, param: "best_of"},
		{name: "completion max_tokens a string", path: "/v1/completions", body: comp(`,"max_tokens":"many"`), status: 400, param: "max_tokens"},
		{name: "completion unknown model", path: "/v1/completions", body: `{"model":"nope","prompt":"hi"}`, status: 404},
		{name: "model not installed", method: "GET", path: "/v1/models/no-such-model", status: 404},
		{name: "model path traversal", method: "GET", path: "/v1/models/..%2F..%2Fetc%2Fpasswd", status: 404},
		{name: "embeddings", path: "/v1/embeddings", body: fmt.Sprintf(`{"model":%q,"input":"hi"}`, model), status: 400, param: "model", text: "does not support embeddings"},
		{name: "embeddings unknown model", path: "/v1/embeddings", body: `{"model":"nope","input":"hi"}`, status: 404},
	}
}

// badInput runs the table against a server that requires an API key; each
// error must have its status and OpenAI's error shape, and a normal request
// right after must succeed.
func badInput(t *testing.T, bin string, s *server) {
	url := guitest.Serve(t, bin, os.Environ(), "--model", s.dir, "--api-key", apiKey)
	other := testmodel.StoriesChat(t, t.TempDir(), "not-installed")
	c := &client{t: t, url: url, key: apiKey}
	cases := badCases(factsOf(t, s.dir), other)
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	normal := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}],"max_tokens":2}`, s.model)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			method, path := tc.method, tc.path
			if method == "" {
				method = "POST"
			}
			if path == "" {
				path = "/v1/chat/completions"
			}
			code, b := c.do(method, path, tc.body, tc.header)
			checkError(t, code, b, tc)
			c.ok("/v1/chat/completions", normal, "CreateChatCompletionResponse")
		})
	}
	if _, err := os.Stat(filepath.Join(other, "config.json")); err != nil {
		t.Fatal(err)
	}
}

// checkError checks the status and the error body of one case.
func checkError(t *testing.T, code int, b []byte, tc badCase) {
	t.Helper()
	if code != tc.status {
		t.Fatalf("status %d, want %d: %s", code, tc.status, b)
	}
	openapitest.Validate(t, "ErrorResponse", b)
	var body struct {
		Error struct {
			Message string  `json:"message"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	got := ""
	if body.Error.Param != nil {
		got = *body.Error.Param
	}
	if tc.param != "" && got != tc.param {
		t.Fatalf("param %q, want %q (%s)", got, tc.param, body.Error.Message)
	}
	if !strings.Contains(body.Error.Message, tc.text) {
		t.Fatalf("message %q lacks %q", body.Error.Message, tc.text)
	}
}
