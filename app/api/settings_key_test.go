package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/store"
)

// TestPutSettingsNeedsTheKey: once a key is required, the management API
// needs it from this machine too (no local program may read chats or remove
// the key that guards /v1), the app's window (in-process) needs none, and
// only the UI's own page and a second launch's "show the window" stay open
// on loopback.
func TestPutSettingsNeedsTheKey(t *testing.T) {
	b := &fakeBackend{settings: store.DefaultSettings()}
	h := New(Config{APIKeyHash: store.HashAPIKey("sk-1")}, b, NewHub())
	send := func(handler http.Handler, method, path, key string) int {
		var body *strings.Reader
		if method == "PUT" {
			body = strings.NewReader(`{"idle_unload_sec":60}`)
		} else {
			body = strings.NewReader("")
		}
		r := httptest.NewRequest(method, path, body)
		r.Host, r.RemoteAddr = "127.0.0.1:1235", "127.0.0.1:50000"
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w.Code
	}
	for _, c := range []struct {
		name         string
		handler      http.Handler
		method, path string
		key          string
		want         int
	}{
		{"PUT settings, loopback without the key", h, "PUT", "/api/settings", "", 401},
		{"PUT settings, loopback with a wrong key", h, "PUT", "/api/settings", "sk-2", 401},
		{"PUT settings, loopback with the key", h, "PUT", "/api/settings", "sk-1", 200},
		{"PUT settings, the window, in-process", h.Local(), "PUT", "/api/settings", "", 200},
		{"GET settings, loopback without the key", h, "GET", "/api/settings", "", 401},
		{"GET settings, loopback with the key", h, "GET", "/api/settings", "sk-1", 200},
		{"GET status, loopback without the key", h, "GET", "/api/status", "", 401},
		{"GET status, the window, in-process", h.Local(), "GET", "/api/status", "", 200},
		{"the UI's page, loopback without the key", h, "GET", "/", "", 200},
	} {
		if got := send(c.handler, c.method, c.path, c.key); got != c.want {
			t.Errorf("%s: %s %s = %d, want %d", c.name, c.method, c.path, got, c.want)
		}
	}
	if got := send(h, "POST", "/api/window/show", ""); got == 401 {
		t.Errorf("POST /api/window/show from loopback without the key = 401: a second launch could not show the window")
	}
}
