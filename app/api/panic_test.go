package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/safe"
)

// TestHandlerPanicIsA500InTheAPIsShape: a handler that panics (the fake
// backend's library is nil, so /api/downloads dereferences it) answers 500
// in OpenAI's error shape, a panic on /v1/messages in Anthropic's, and the
// server goes on serving the next request on the same connection.
func TestHandlerPanicIsA500InTheAPIsShape(t *testing.T) {
	h := New(Config{}, &fakeBackend{running: true}, NewHub())
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()

	get := func(method, path, body string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}

	// OpenAI shape on /api (a real nil dereference in the handler).
	resp, body := get("GET", "/api/downloads", "")
	var oa ErrorBody
	if resp.StatusCode != 500 || json.Unmarshal(body, &oa) != nil || oa.Error.Type != "server_error" || !strings.Contains(oa.Error.Message, "internal error") {
		t.Errorf("GET /api/downloads after a panic = %d %s; want 500 server_error", resp.StatusCode, body)
	}
	// OpenAI shape on /v1 (the panic injected before the route runs).
	safe.Arm("http.handler", "injected")
	resp, body = get("GET", "/v1/models", "")
	if resp.StatusCode != 500 || json.Unmarshal(body, &oa) != nil || oa.Error.Type != "server_error" {
		t.Errorf("GET /v1/models after a panic = %d %s; want 500 in OpenAI's shape", resp.StatusCode, body)
	}
	// Anthropic shape on /v1/messages.
	safe.Arm("http.handler", "injected")
	resp, body = get("POST", "/v1/messages", `{}`)
	var an AnthropicErrorBody
	if resp.StatusCode != 500 || json.Unmarshal(body, &an) != nil || an.Type != "error" || an.Error.Type != "api_error" {
		t.Errorf("POST /v1/messages after a panic = %d %s; want 500 in Anthropic's shape", resp.StatusCode, body)
	}
	// The server still serves.
	resp, body = get("GET", "/api/status", "")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"version":"test"`) {
		t.Errorf("GET /api/status after the panics = %d %s", resp.StatusCode, body)
	}
}

// TestLocalHandlerRecoversToo: the window's in-process handler has the
// same recovery.
func TestLocalHandlerRecoversToo(t *testing.T) {
	h := New(Config{}, &fakeBackend{running: true}, NewHub())
	w := httptest.NewRecorder()
	h.Local().ServeHTTP(w, httptest.NewRequest("GET", "/api/downloads", nil))
	if w.Code != 500 || decodeError(t, w).Type != "server_error" {
		t.Errorf("local GET /api/downloads = %d %s; want 500", w.Code, w.Body)
	}
}

// TestPanicAfterResponseStartedAbortsConnection: once a handler has sent
// its status (a stream), a panic cuts the connection (the client sees an
// error, not a clean end) and the server keeps serving.
func TestPanicAfterResponseStartedAbortsConnection(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			w.Write([]byte("ok"))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.Write([]byte("data: one\n\n"))
		w.(http.Flusher).Flush()
		panic("mid-stream")
	})
	srv := httptest.NewServer(recoverPanics(inner))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Error("stream cut by a panic ended cleanly; want a read error")
	}
	resp, err = http.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" {
		t.Errorf("after the panic: %q", b)
	}
}
