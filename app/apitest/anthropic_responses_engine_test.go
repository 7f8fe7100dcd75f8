package apitest

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/openapitest"
)

// longTokens is the answer length asked for in the disconnect test.
const longTokens = 400

// TestAnthropicResponsesDisconnect: a client that leaves a streamed
// message or response stops its generation: its request ends (the log
// line's time) long before the same request read to the end.
func TestAnthropicResponsesDisconnect(t *testing.T) {
	mlxtest.Require(t)
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	url := serveInProcess(t)
	logs := &lockedBuffer{}
	log.SetOutput(logs)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	for _, c := range []struct{ api, path, body, delta string }{
		{"messages", "/v1/messages", fmt.Sprintf(`{"model":"stories-chat","stream":true,"max_tokens":%d,"temperature":0,"messages":[{"role":"user","content":"Tell me a long story."}]}`, longTokens), "content_block_delta"},
		{"responses", "/v1/responses", fmt.Sprintf(`{"model":"stories-chat","stream":true,"max_output_tokens":%d,"temperature":0,"input":"Tell me a long story."}`, longTokens), "response.output_text.delta"},
	} {
		t.Run(c.api, func(t *testing.T) {
			readEvents(t, url+c.path, c.body, c.delta, -1)
			tokens, full := lastLogLine(t, logs, c.api, 1)
			if tokens < 100 {
				t.Fatalf("the greedy story ends after %d tokens; the test needs a longer one", tokens)
			}
			readEvents(t, url+c.path, c.body, c.delta, 3)
			_, cut := lastLogLine(t, logs, c.api, 2)
			t.Logf("%s: %d tokens in %v read to the end; %v when the client left at the third delta", c.api, tokens, full, cut)
			if cut >= full/2 {
				t.Errorf("%s: a client that left after 3 deltas kept its request running %v; read to the end it takes %v", c.api, cut, full)
			}
		})
	}
}

// readEvents streams body and reads delta events; with stopAfter >= 0 it
// leaves after that many (cancelling the request), else it reads the end.
func readEvents(t *testing.T, url, body, delta string, stopAfter int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST %s: %v %v", url, err, resp)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "event: "+delta {
			if n++; n == stopAfter {
				return
			}
		}
	}
}

// lastLogLine waits for the n-th request log line of api and returns its
// completion tokens and how long the request took.
func lastLogLine(t *testing.T, logs *lockedBuffer, api string, n int) (int, time.Duration) {
	t.Helper()
	line := regexp.MustCompile(`(?m)\b` + regexp.QuoteMeta(api) + ` model=stories-chat .* completion_tokens=(\d+) .* in (\S+)$`)
	var m [][]string
	if !waitFor(10*time.Second, func() bool { m = line.FindAllStringSubmatch(logs.String(), -1); return len(m) >= n }) {
		t.Fatalf("%d %s log lines, want %d:\n%s", len(m), api, n, logs.String())
	}
	tokens, _ := strconv.Atoi(m[n-1][1])
	took, err := time.ParseDuration(m[n-1][2])
	if err != nil {
		t.Fatal(err)
	}
	return tokens, took
}

// TestAnthropicResponsesNoEngine: without the MLX runtime both APIs answer
// 503 in their own error shape, naming where the runtime was looked for.
func TestAnthropicResponsesNoEngine(t *testing.T) {
	dir := chatModel(t)
	url := guitest.Serve(t, guitest.Build(t), guitest.NoEngineEnv(), "--model", dir)
	c := &client{t: t, url: url}
	for _, r := range []struct{ path, body, shape string }{
		{"/v1/messages", `{"model":"stories-chat","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, `"type":"overloaded_error"`},
		{"/v1/messages", `{"model":"stories-chat","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, `"type":"overloaded_error"`},
		{"/v1/messages/count_tokens", `{"model":"stories-chat","messages":[{"role":"user","content":"hi"}]}`, `"type":"overloaded_error"`},
		{"/v1/responses", `{"model":"stories-chat","input":"hi"}`, `"code":"engine_unavailable"`},
	} {
		code, b := c.do("POST", r.path, r.body, nil)
		if code != http.StatusServiceUnavailable || !strings.Contains(string(b), r.shape) || !strings.Contains(string(b), "/nonexistent") {
			t.Errorf("%s without MLX: %d %s, want 503 with %s naming the library searched", r.path, code, b, r.shape)
		}
		if r.path == "/v1/responses" {
			openapitest.Validate(t, "ErrorResponse", b)
		}
	}
}
