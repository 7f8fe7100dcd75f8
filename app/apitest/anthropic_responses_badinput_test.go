package apitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/internal/mlxtest"
)

// anthropicCase is a bad Messages API request and the Anthropic error it
// must get.
type anthropicCase struct {
	badCase
	errType string
}

// anthropicCases are bad requests to /v1/messages and count_tokens.
func anthropicCases(model string) []anthropicCase {
	msg := func(extra string) string {
		return fmt.Sprintf(`{"model":%q,"max_tokens":2,"messages":[{"role":"user","content":"hi"}]%s}`, model, extra)
	}
	withContent := func(content string) string {
		return fmt.Sprintf(`{"model":%q,"max_tokens":2,"messages":[{"role":"user","content":%s}]}`, model, content)
	}
	bad := func(name, body, text string) anthropicCase {
		return anthropicCase{badCase{name: name, body: body, status: 400, text: text}, "invalid_request_error"}
	}
	return []anthropicCase{
		bad("malformed json", `{"model":`, "malformed JSON"),
		bad("empty body", ``, "empty"),
		bad("array body", `[1,2]`, "JSON object"),
		bad("NaN temperature", msg(`,"temperature":NaN`), "malformed JSON"),
		bad("invalid utf-8", "{\"model\":\"\xff\xfe\",\"max_tokens\":2,\"messages\":[]}", "UTF-8"),
		bad("missing max_tokens", fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, model), "max_tokens"),
		bad("max_tokens as string", strings.Replace(msg(""), `"max_tokens":2`, `"max_tokens":"2"`, 1), "max_tokens"),
		bad("zero max_tokens", strings.Replace(msg(""), `"max_tokens":2`, `"max_tokens":0`, 1), "max_tokens"),
		bad("negative max_tokens", strings.Replace(msg(""), `"max_tokens":2`, `"max_tokens":-5`, 1), "max_tokens"),
		bad("huge max_tokens", strings.Replace(msg(""), `"max_tokens":2`, `"max_tokens":1e30`, 1), "max_tokens"),
		bad("negative temperature", msg(`,"temperature":-1`), "temperature"),
		bad("temperature above 1", msg(`,"temperature":5`), "temperature"),
		bad("top_p above 1", msg(`,"top_p":1.5`), "top_p"),
		bad("negative top_k", msg(`,"top_k":-1`), "top_k"),
		bad("empty messages", fmt.Sprintf(`{"model":%q,"max_tokens":2,"messages":[]}`, model), "messages"),
		bad("unknown role", strings.Replace(msg(""), `"role":"user"`, `"role":"robot"`, 1), "robot"),
		bad("content of wrong type", withContent(`42`), "content"),
		bad("system of wrong type", msg(`,"system":5`), "system"),
		bad("image block", withContent(`[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]`), "text only"),
		bad("document block", withContent(`[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"x"}}]`), "text only"),
		bad("tool_result without id", withContent(`[{"type":"tool_result","content":"x"}]`), "tool_use_id"),
		bad("unknown tool_choice", msg(`,"tool_choice":{"type":"sometimes"}`), "tool_choice"),
		bad("thinking without budget", msg(`,"thinking":{"type":"enabled","budget_tokens":0}`), "budget_tokens"),
		bad("server tool", msg(`,"tools":[{"type":"web_search_20250305","name":"web_search"}]`), "not supported"),
		{badCase{name: "unknown model", body: strings.Replace(msg(""), model, "no-such-model", 1), status: 404, text: "not installed"}, "not_found_error"},
		{badCase{name: "path traversal model", body: strings.Replace(msg(""), model, "../../../etc/passwd", 1), status: 404, text: "not installed"}, "not_found_error"},
		{badCase{name: "missing x-api-key", body: msg(""), header: map[string]string{"X-Api-Key": ""}, status: 401, text: "api key"}, "authentication_error"},
		{badCase{name: "wrong x-api-key", body: msg(""), header: map[string]string{"X-Api-Key": "sk-wrong"}, status: 401, text: "api key"}, "authentication_error"},
		{badCase{name: "wrong host", body: msg(""), header: map[string]string{"Host": "evil.example"}, status: 403, text: "host not allowed"}, "permission_error"},
		{badCase{name: "foreign origin", body: msg(""), header: map[string]string{"Origin": "https://evil.example"}, status: 403, text: "origin not allowed"}, "permission_error"},
		{badCase{name: "GET messages", method: "GET", status: 405, text: "method not allowed"}, "invalid_request_error"},
		{badCase{name: "body too large", body: `{"model":"` + strings.Repeat("a", 9<<20) + `"}`, status: 413, text: "too large"}, "request_too_large"},
		{badCase{name: "count_tokens unknown model", path: "/v1/messages/count_tokens", body: `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, status: 404, text: "not installed"}, "not_found_error"},
		{badCase{name: "count_tokens malformed json", path: "/v1/messages/count_tokens", body: `{`, status: 400, text: "malformed JSON"}, "invalid_request_error"},
	}
}

// responsesCases are bad requests to the Responses API.
func responsesCases(model string) []badCase {
	resp := func(extra string) string {
		return fmt.Sprintf(`{"model":%q,"input":"hi","max_output_tokens":2%s}`, model, extra)
	}
	input := func(items string) string {
		return fmt.Sprintf(`{"model":%q,"max_output_tokens":2,"input":%s}`, model, items)
	}
	bad := func(name, body, param, text string) badCase {
		return badCase{name: name, path: "/v1/responses", body: body, status: 400, param: param, text: text}
	}
	get := func(name, method, id string) badCase {
		return badCase{name: name, method: method, path: "/v1/responses/" + id, status: 404, text: "no stored response"}
	}
	return []badCase{
		bad("malformed json", `{"model":`, "", "malformed JSON"),
		bad("invalid utf-8", "{\"model\":\"\xff\",\"input\":\"hi\"}", "", "UTF-8"),
		bad("missing input", fmt.Sprintf(`{"model":%q}`, model), "input", "input"),
		bad("input of wrong type", input(`42`), "input", "input"),
		bad("empty input list", input(`[]`), "input", "at least one"),
		bad("unknown role", input(`[{"role":"robot","content":"hi"}]`), "input.0.role", "robot"),
		bad("image part", input(`[{"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,iVBOR"}]}]`), "input.0.content.0.type", "text only"),
		bad("function_call without call_id", input(`[{"type":"function_call","name":"f","arguments":"{}"}]`), "input.0", "call_id"),
		bad("unknown item type", input(`[{"type":"teleport"}]`), "input.0.type", "teleport"),
		bad("max_output_tokens as string", strings.Replace(resp(""), `"max_output_tokens":2`, `"max_output_tokens":"2"`, 1), "max_output_tokens", "max_output_tokens"),
		bad("zero max_output_tokens", strings.Replace(resp(""), `"max_output_tokens":2`, `"max_output_tokens":0`, 1), "max_output_tokens", "at least 1"),
		bad("temperature above 2", resp(`,"temperature":3`), "temperature", "temperature"),
		bad("negative top_p", resp(`,"top_p":-0.1`), "top_p", "top_p"),
		bad("stream of wrong type", resp(`,"stream":"yes"`), "stream", "stream"),
		bad("web search tool", resp(`,"tools":[{"type":"web_search"}]`), "tools.0.type", "not supported"),
		bad("bad tool_choice", resp(`,"tool_choice":"sometimes"`), "tool_choice", "tool_choice"),
		bad("unknown previous_response_id", resp(`,"previous_response_id":"resp_nope"`), "previous_response_id", "resp_nope"),
		{name: "unknown model", path: "/v1/responses", body: strings.Replace(resp(""), model, "no-such-model", 1), status: 404, text: "not installed"},
		{name: "path traversal model", path: "/v1/responses", body: strings.Replace(resp(""), model, "../../../etc/passwd", 1), status: 404, text: "not installed"},
		{name: "missing key", path: "/v1/responses", body: resp(""), header: map[string]string{"Authorization": ""}, status: 401, text: "api key"},
		{name: "wrong host", path: "/v1/responses", body: resp(""), header: map[string]string{"Host": "evil.example"}, status: 403, text: "host not allowed"},
		{name: "foreign origin", path: "/v1/responses", body: resp(""), header: map[string]string{"Origin": "https://evil.example"}, status: 403, text: "origin not allowed"},
		get("get unknown id", "GET", "resp_nope"),
		get("delete unknown id", "DELETE", "resp_nope"),
		get("get path traversal id", "GET", "..%2F..%2Flmx.db"),
	}
}

// TestAnthropicResponsesBadInput sends each bad request to a server that
// requires an API key: each gets its status and an error in its API's own
// shape, and a normal request right after still succeeds.
func TestAnthropicResponsesBadInput(t *testing.T) {
	mlxtest.Require(t)
	dir := chatModel(t)
	model := filepath.Base(dir)
	url := guitest.Serve(t, guitest.Build(t), os.Environ(), "--model", dir, "--api-key", apiKey)
	waitLoaded(t, url, apiKey, dir)
	normalMessage := fmt.Sprintf(`{"model":%q,"max_tokens":2,"messages":[{"role":"user","content":"hi"}]}`, model)
	normalResponse := fmt.Sprintf(`{"model":%q,"input":"hi","max_output_tokens":2}`, model)
	aCases, rCases := anthropicCases(model), responsesCases(model)
	if len(aCases) < 25 || len(rCases) < 25 {
		t.Fatalf("%d Anthropic and %d Responses cases, want at least 25 each", len(aCases), len(rCases))
	}
	c := &client{t: t, url: url}
	anthropicKey := map[string]string{"X-Api-Key": apiKey, "anthropic-version": "2023-06-01"}
	for _, tc := range aCases {
		t.Run("messages/"+tc.name, func(t *testing.T) {
			c.t = t
			method, path := tc.method, tc.path
			if method == "" {
				method = "POST"
			}
			if path == "" {
				path = "/v1/messages"
			}
			code, b := c.do(method, path, tc.body, merged(anthropicKey, tc.header))
			checkAnthropicError(t, code, b, tc)
			if code, b := c.do("POST", "/v1/messages", normalMessage, anthropicKey); code != http.StatusOK {
				t.Fatalf("normal message after the bad one: %d %s", code, b)
			}
		})
	}
	c.key = apiKey
	for _, tc := range rCases {
		t.Run("responses/"+tc.name, func(t *testing.T) {
			c.t = t
			method := tc.method
			if method == "" {
				method = "POST"
			}
			code, b := c.do(method, tc.path, tc.body, tc.header)
			checkError(t, code, b, tc)
			if code, b := c.do("POST", "/v1/responses", normalResponse, nil); code != http.StatusOK {
				t.Fatalf("normal response after the bad one: %d %s", code, b)
			}
		})
	}
}

// merged is base with extra's headers set over it.
func merged(base, extra map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range []map[string]string{base, extra} {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// checkAnthropicError checks the status and Anthropic's error body.
func checkAnthropicError(t *testing.T, code int, b []byte, tc anthropicCase) {
	t.Helper()
	var body struct {
		Type  string `json:"type"`
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	if code != tc.status || body.Type != "error" || body.Error.Type != tc.errType {
		t.Fatalf("%d %s, want %d with error type %s", code, b, tc.status, tc.errType)
	}
	if !strings.Contains(body.Error.Message, tc.text) {
		t.Fatalf("message %q lacks %q", body.Error.Message, tc.text)
	}
}
