package app

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/app/api"
)

// post sends body to the running app's listener and decodes the OpenAI error.
func postJSON(t *testing.T, url, body string) (int, api.ErrorDetail) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e api.ErrorBody
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error
}

// TestOversizedBodyIsRefused: a body over the limit is refused with 413 by
// the real listener, on /v1 and /api, and the server keeps serving.
func TestOversizedBodyIsRefused(t *testing.T) {
	a := newTestApp(t, true)
	s := a.settings
	s.MaxBodyBytes = 4 << 10
	if err := a.ApplySettings(s); err != nil {
		t.Fatal(err)
	}
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	big := `{"model":"x","messages":[{"role":"user","content":"` + strings.Repeat("a", 8<<10) + `"}]}`
	for _, path := range []string{"/v1/chat/completions", "/api/settings"} {
		method := "POST"
		if path == "/api/settings" {
			method = "PUT"
		}
		req, _ := http.NewRequest(method, a.URL()+path, bytes.NewReader([]byte(big)))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 413 || !strings.Contains(string(raw), "body_too_large") {
			t.Errorf("%s %s with 8 KiB over a 4 KiB limit = %d %s, want 413", method, path, resp.StatusCode, raw)
		}
	}
	if resp, err := http.Get(a.URL() + "/api/status"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status after the oversized bodies: %v %v", resp, err)
	}
}

// TestModelNameTraversalIsNotFound: a request naming a model by a path (or
// a traversal) finds no model: names are library ids or short names, never
// paths.
func TestModelNameTraversalIsNotFound(t *testing.T) {
	a := newTestApp(t, true)
	if err := a.LoadEngine(); err != nil {
		t.Fatal(err)
	}
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../../../../etc/passwd", "/etc/passwd", "..", "org/../../x", `..\..\x`} {
		body, _ := json.Marshal(map[string]any{"model": name, "messages": []map[string]string{{"role": "user", "content": "hi"}}})
		code, e := postJSON(t, a.URL()+"/v1/chat/completions", string(body))
		if code != 404 || e.Code == nil || *e.Code != "model_not_found" {
			t.Errorf("model %q: %d %+v, want 404 model_not_found", name, code, e)
		}
	}
}
