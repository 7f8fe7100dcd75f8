package api

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/store"
)

// TestAppOriginIsThePlatformsOnly: only the origin Wails v2 serves the app
// from on this platform is allowed (wails://wails on macOS and Linux,
// http://wails.localhost on Windows); the others are foreign origins here,
// simple requests and preflights alike.
func TestAppOriginIsThePlatformsOnly(t *testing.T) {
	for goos, want := range map[string][]string{
		"darwin":  {"wails://wails"},
		"linux":   {"wails://wails"},
		"windows": {"http://wails.localhost"},
		"freebsd": nil,
	} {
		if got := appOrigins(goos); !slices.Equal(got, want) {
			t.Errorf("appOrigins(%s) = %q, want %q", goos, got, want)
		}
	}
	all := []string{"wails://wails", "http://wails.localhost", "https://wails.localhost", "http://wails.localhost:34115"}
	for _, origin := range all {
		allowed := slices.Contains(appOrigins(runtime.GOOS), origin)
		want, wantPreflight := 403, 403
		if allowed {
			want, wantPreflight = 200, 204
		}
		w := serve(t, Config{}, "GET", "/api/status", map[string]string{"Origin": origin})
		if w.Code != want {
			t.Errorf("GET with Origin %s on %s = %d, want %d", origin, runtime.GOOS, w.Code, want)
		}
		w = serve(t, Config{}, "OPTIONS", "/v1/chat/completions", map[string]string{"Origin": origin, "Access-Control-Request-Method": "POST"})
		if w.Code != wantPreflight {
			t.Errorf("preflight from %s on %s = %d, want %d", origin, runtime.GOOS, w.Code, wantPreflight)
		}
		if got := w.Header().Get("Access-Control-Allow-Origin"); (got != "") != allowed {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", origin, got)
		}
	}
}

// TestSettingsNeverEchoSecrets: GET /api/settings says whether a key and a
// Hub token are set, never their values (a page that got around the Origin
// check, or a log of responses, learns nothing).
func TestSettingsNeverEchoSecrets(t *testing.T) {
	s := store.DefaultSettings()
	s.Server.APIKeyHash = store.HashAPIKey("sk-local-secret")
	s.Library.HubToken = "hf_secret_token"
	h := New(Config{}, &fakeBackend{settings: s}, NewHub())
	w := send(h, "GET", "/api/settings", "", "127.0.0.1:50000")
	body := w.Body.String()
	if w.Code != 200 || !strings.Contains(body, `"hub_token_set":true`) {
		t.Fatalf("GET /api/settings = %d %s", w.Code, body)
	}
	for _, secret := range []string{"hf_secret_token", s.Server.APIKeyHash, "sk-local-secret"} {
		if strings.Contains(body, secret) {
			t.Errorf("GET /api/settings contains a secret: %s", body)
		}
	}
}
