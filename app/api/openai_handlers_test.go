package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/internal/openapitest"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/library"
)

// captureLog sends the standard logger to a buffer for the test.
func captureLog(t *testing.T) *bytes.Buffer {
	var buf bytes.Buffer
	log.SetOutput(&buf)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	return &buf
}

// TestGenerationHandlerRecoversPanics: a panic in a generation handler is a
// 500 in OpenAI's error shape, logged, and the server goes on.
func TestGenerationHandlerRecoversPanics(t *testing.T) {
	logs := captureLog(t)
	h := generationHandler("chat.completions", func(http.ResponseWriter, *http.Request, *requestLog) {
		var m map[string]int
		m["boom"]++ // a nil-map write: a real runtime panic
	})
	w := httptest.NewRecorder()
	h(w, httptest.NewRequest("POST", "/v1/chat/completions", nil))
	if w.Code != 500 {
		t.Fatalf("status %d, want 500: %s", w.Code, w.Body)
	}
	openapitest.Validate(t, "ErrorResponse", w.Body.Bytes())
	if !regexp.MustCompile(`panic: assignment to entry in nil map[\s\S]*status=500`).MatchString(logs.String()) {
		t.Fatalf("log lacks the panic and the request line:\n%s", logs)
	}
}

// TestRequestLogLine: one line with the API, model, prompt tokens (cached),
// completion tokens, time to first token, decode speed and status; n
// choices count the prompt once and add their tokens.
func TestRequestLogLine(t *testing.T) {
	logs := captureLog(t)
	h := generationHandler("completions", func(w http.ResponseWriter, _ *http.Request, l *requestLog) {
		l.setModel("m1")
		l.note(engine.Event{Kind: engine.EventText, Text: "x"})
		for range 2 {
			l.note(engine.Event{Kind: engine.EventDone, Usage: engine.Usage{PromptTokens: 7, CachedTokens: 3, CompletionTokens: 11},
				Timing: engine.Timing{Decode: time.Second}})
		}
		w.WriteHeader(http.StatusTeapot)
	})
	h(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/completions", nil))
	want := regexp.MustCompile(`completions model=m1 prompt_tokens=7 \(cached 3\) completion_tokens=22 ttft=\S+ tokens/s=10\.0 status=418 in \S+\n$`)
	if !want.MatchString(logs.String()) {
		t.Fatalf("log line %q does not match %s", logs, want)
	}
}

// TestModelByID: GET /v1/models/{id} finds Hub ids holding a slash and
// aliases, and answers 404 for anything else without touching the disk.
func TestModelByID(t *testing.T) {
	b := &fakeBackend{models: []LocalModel{{Model: library.Model{ID: "mlx-community/Qwen3-0.6B-4bit", Repo: "mlx-community/Qwen3-0.6B-4bit", Supported: true}}}}
	h := New(Config{}, b, NewHub())
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/v1/models/mlx-community/Qwen3-0.6B-4bit", 200},
		{"/v1/models/Qwen3-0.6B-4bit", 200},
		{"/v1/models/mlx-community", 404},
		{"/v1/models/..%2F..%2Fetc%2Fpasswd", 404},
		{"/v1/models/mlx-community/Qwen3-0.6B-4bit/extra", 404},
	} {
		w := send(h, "GET", tc.path, "", "127.0.0.1:50000")
		if w.Code != tc.code {
			t.Errorf("GET %s = %d %s, want %d", tc.path, w.Code, w.Body, tc.code)
			continue
		}
		schema := "Model"
		if tc.code != 200 {
			schema = "ErrorResponse"
		}
		openapitest.Validate(t, schema, w.Body.Bytes())
	}
}

// TestRequestLimits: the settings cap max_tokens (absent: the ceiling) and
// bound n.
func TestRequestLimits(t *testing.T) {
	limits := store.RequestSettings{MaxTokens: 100, MaxChoices: 2}
	two, big := 2, 500
	cases := []struct {
		req       ChatCompletionRequest
		wantMax   int
		wantParam string
	}{
		{ChatCompletionRequest{}, 100, ""},
		{ChatCompletionRequest{GenerationFields: GenerationFields{MaxTokens: &big}}, 100, ""},
		{ChatCompletionRequest{MaxCompletionTokens: &two}, 2, ""},
		{ChatCompletionRequest{GenerationFields: GenerationFields{N: &big}}, 0, "n"},
	}
	for i, tc := range cases {
		tc.req.Messages = []json.RawMessage{json.RawMessage(`{"role":"user","content":"hi"}`)}
		p, err := tc.req.plan(limits)
		var pe *ParamError
		switch {
		case tc.wantParam != "" && (!errors.As(err, &pe) || pe.Param != tc.wantParam):
			t.Errorf("case %d: error %v, want a ParamError for %s", i, err, tc.wantParam)
		case tc.wantParam == "" && (err != nil || p.req.MaxTokens != tc.wantMax):
			t.Errorf("case %d: %v, max tokens %v, want %d", i, err, p, tc.wantMax)
		}
	}
}
