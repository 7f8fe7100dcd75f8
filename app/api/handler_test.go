package api

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lmx-app/lmx/store"
)

// fakeBackend records server actions and reports a fixed status; its
// settings live in memory and its library is a fixed list. Library actions
// that reach the Hub are tested against the real app (app/library_test.go).
type fakeBackend struct {
	LibraryBackend // nil: calling an unlisted method fails the test with a panic
	ModelBackend   // nil likewise; generation is tested against the real app
	ResponseStore  // nil likewise

	mu       sync.Mutex
	running  bool
	settings store.Settings
	models   []LocalModel
	loaded   []string
	shown    int
}

func (f *fakeBackend) LoadedModels() []string { return f.loaded }

func (f *fakeBackend) Settings() (store.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.settings, nil
}

func (f *fakeBackend) UpdateSettings(edit func(*store.Settings) error) (store.Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.settings
	s.Server.CORSOrigins = slices.Clone(s.Server.CORSOrigins)
	if err := edit(&s); err != nil {
		return store.Settings{}, err
	}
	if err := s.Validate(); err != nil {
		return store.Settings{}, err
	}
	f.settings = s
	return s, nil
}

func (f *fakeBackend) Models() []LocalModel { return f.models }

func (f *fakeBackend) ShowWindow() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shown++
	return nil
}

func (f *fakeBackend) Status(context.Context) Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Status{Version: "test", Server: ServerStatus{Running: f.running, URL: "http://127.0.0.1:1235"}}
}

func (f *fakeBackend) StartServer() error { f.set(true); return nil }
func (f *fakeBackend) StopServer() error  { f.set(false); return nil }

func (f *fakeBackend) set(running bool) {
	f.mu.Lock()
	f.running = running
	f.mu.Unlock()
}

// serve sends one request through a Handler built from cfg.
func serve(t *testing.T, cfg Config, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	h := New(cfg, &fakeBackend{running: true}, NewHub())
	r := httptest.NewRequest(method, target, nil)
	r.Host, r.RemoteAddr = "127.0.0.1:1235", "127.0.0.1:50000"
	for k, v := range header {
		switch k {
		case "Host":
			r.Host = v
			continue
		case "RemoteAddr":
			r.RemoteAddr = v
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// decodeError parses an OpenAI error body, failing the test when the shape is wrong.
func decodeError(t *testing.T, w *httptest.ResponseRecorder) ErrorDetail {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type = %q, want application/json", ct)
	}
	var raw map[string]map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := raw["error"][k]; !ok {
			t.Fatalf("error body %s lacks error.%s", w.Body.String(), k)
		}
	}
	var body ErrorBody
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	return body.Error
}

func TestHostCheck(t *testing.T) {
	cases := []struct {
		name  string
		host  string
		extra []string
		want  int
	}{
		{"localhost with port", "localhost:1235", nil, 200},
		{"ipv4 loopback", "127.0.0.1", nil, 200},
		{"ipv6 loopback with port", "[::1]:1235", nil, 200},
		{"upper case and trailing dot", "LocalHost.:1235", nil, 200},
		{"rebinding name", "attacker.example:1235", nil, 403},
		{"loopback as subdomain", "127.0.0.1.attacker.example", nil, 403},
		{"other loopback address", "127.0.0.2:1235", nil, 403},
		{"empty host", "", nil, 403},
		{"configured host", "studio.local:1235", []string{"studio.local"}, 200},
		{"configured host given with port", "Studio.Local", []string{"studio.local:9999"}, 200},
		{"unconfigured host beside a configured one", "other.local", []string{"studio.local"}, 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := serve(t, Config{AllowedHosts: c.extra}, "GET", "/api/status", map[string]string{"Host": c.host})
			if w.Code != c.want {
				t.Fatalf("status %d, want %d: %s", w.Code, c.want, w.Body.String())
			}
			if c.want == 403 {
				e := decodeError(t, w)
				if e.Code == nil || *e.Code != "host_not_allowed" || e.Type != "permission_error" {
					t.Errorf("error %+v, want permission_error/host_not_allowed", e)
				}
			}
		})
	}
}

func TestCORS(t *testing.T) {
	allowed := Config{AllowedOrigins: []string{"http://localhost:5173"}}
	cases := []struct {
		name     string
		method   string
		origin   string
		preflite bool
		want     int
		wantACAO string
	}{
		{"no origin", "GET", "", false, 200, ""},
		{"same origin", "POST", "http://127.0.0.1:1235", false, 200, ""},
		{"configured origin", "GET", "http://localhost:5173", false, 200, "http://localhost:5173"},
		{"configured origin preflight", "OPTIONS", "http://localhost:5173", true, 204, "http://localhost:5173"},
		{"app webview origin", "GET", "wails://wails", false, 200, "wails://wails"},
		{"foreign origin", "GET", "https://attacker.example", false, 403, ""},
		{"foreign origin simple POST", "POST", "https://attacker.example", false, 403, ""},
		{"foreign origin preflight", "OPTIONS", "https://attacker.example", true, 403, ""},
		{"null origin", "GET", "null", false, 403, ""},
		{"same host other port", "GET", "http://127.0.0.1:9999", false, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := map[string]string{}
			if c.origin != "" {
				hdr["Origin"] = c.origin
			}
			if c.preflite {
				hdr["Access-Control-Request-Method"] = "POST"
			}
			path := "/api/status"
			if c.method == "POST" {
				path = "/api/server/start"
			}
			w := serve(t, allowed, c.method, path, hdr)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d: %s", w.Code, c.want, w.Body.String())
			}
			if got := w.Header().Get("Access-Control-Allow-Origin"); got != c.wantACAO {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, c.wantACAO)
			}
			if c.want == 403 {
				if e := decodeError(t, w); e.Code == nil || *e.Code != "origin_not_allowed" {
					t.Errorf("error %+v, want origin_not_allowed", e)
				}
			}
		})
	}
}

func TestAPIKey(t *testing.T) {
	cases := []struct {
		name   string
		key    string
		path   string
		header map[string]string
		want   int
	}{
		{"no key configured", "", "/v1/models", nil, 200},
		{"key missing", "s3cret", "/v1/models", nil, 401},
		{"bearer key", "s3cret", "/v1/models", map[string]string{"Authorization": "Bearer s3cret"}, 200},
		{"bearer lower case scheme", "s3cret", "/v1/models", map[string]string{"Authorization": "bearer s3cret"}, 200},
		{"x-api-key", "s3cret", "/v1/models", map[string]string{"X-Api-Key": "s3cret"}, 200},
		{"wrong key", "s3cret", "/v1/models", map[string]string{"Authorization": "Bearer s3cre"}, 401},
		{"basic auth is not a key", "s3cret", "/v1/models", map[string]string{"Authorization": "Basic s3cret"}, 401},
		{"management api needs the key from this machine too", "s3cret", "/api/status", nil, 401},
		{"management api from this machine with key", "s3cret", "/api/status", map[string]string{"X-Api-Key": "s3cret"}, 200},
		{"the UI's page needs no key", "s3cret", "/", nil, 200},
		{"management api from another machine", "s3cret", "/api/status", map[string]string{"RemoteAddr": "192.168.1.20:50000"}, 401},
		{"management api from another machine with key", "s3cret", "/api/status",
			map[string]string{"RemoteAddr": "192.168.1.20:50000", "Authorization": "Bearer s3cret"}, 200},
		{"ipv6 loopback peer", "s3cret", "/api/status", map[string]string{"RemoteAddr": "[::1]:50000"}, 401},
		{"ipv6 loopback peer with key", "s3cret", "/api/status", map[string]string{"RemoteAddr": "[::1]:50000", "Authorization": "Bearer s3cret"}, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{}
			if c.key != "" {
				cfg.APIKeyHash = store.HashAPIKey(c.key)
			}
			w := serve(t, cfg, "GET", c.path, c.header)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d: %s", w.Code, c.want, w.Body.String())
			}
			if c.want == 401 {
				e := decodeError(t, w)
				if e.Code == nil || *e.Code != "invalid_api_key" || e.Type != "invalid_request_error" {
					t.Errorf("error %+v, want invalid_request_error/invalid_api_key", e)
				}
				if strings.Contains(e.Message, c.key) {
					t.Errorf("error message %q leaks the key", e.Message)
				}
			}
		})
	}
}

func TestErrorJSON(t *testing.T) {
	cases := []struct {
		name     string
		method   string
		path     string
		want     int
		wantCode string
	}{
		{"unknown v1 route", "GET", "/v1/nope", 404, "not_found"},
		{"unknown api route", "GET", "/api/nope", 404, "not_found"},
		{"wrong method on status", "POST", "/api/status", 405, "method_not_allowed"},
		{"wrong method on models", "DELETE", "/v1/models", 405, "method_not_allowed"},
		{"GET on server stop", "GET", "/api/server/stop", 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := serve(t, Config{}, c.method, c.path, nil)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d: %s", w.Code, c.want, w.Body.String())
			}
			e := decodeError(t, w)
			if e.Code == nil || *e.Code != c.wantCode || e.Param != nil || !strings.Contains(e.Message, c.path) {
				t.Errorf("error %+v, want code %s, null param, message naming %s", e, c.wantCode, c.path)
			}
		})
	}
}
