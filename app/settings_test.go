package app

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/store"
)

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startApp starts an app on db with overrides and a data dir.
func startApp(t *testing.T, db *store.DB, over Overrides, dataDir string) *App {
	t.Helper()
	a, err := New(Config{DataDir: dataDir, Overrides: over}, db, Engine{Load: func() error { return errNoLib }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	return a
}

// call sends a request with an optional bearer key and returns status and body.
func call(t *testing.T, method, url, body, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSettingsComeFromTheStore(t *testing.T) {
	db := openStore(t, "")
	stored, override := freePort(t), freePort(t)
	db.UpdateSettings(func(s *store.Settings) error { s.Server.Port = stored; return nil })
	cases := []struct {
		name     string
		over     Overrides
		wantPort int
	}{
		{"stored port", Overrides{}, stored},
		{"flag overrides it", Overrides{Port: &override}, override},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := startApp(t, db, c.over, "")
			if want := "http://127.0.0.1:" + strconv.Itoa(c.wantPort); a.URL() != want {
				t.Errorf("serving at %s, want %s", a.URL(), want)
			}
			a.Close()
			if s, _ := db.Settings(); s.Server.Port != stored {
				t.Errorf("stored port became %d: a flag was written back", s.Server.Port)
			}
		})
	}
}

func TestPutSettingsAppliesThem(t *testing.T) {
	db := openStore(t, "")
	port := 0
	a := startApp(t, db, Overrides{Port: &port}, "")
	oldURL := a.URL()
	moved := freePort(t)
	steps := []struct {
		name, body string
		key        string // the API key sent
		want       int
		wantParam  string
	}{
		{"beyond loopback without a key", `{"server":{"host":"0.0.0.0"}}`, "", 400, `"param":"server.host"`},
		{"invalid port", `{"server":{"port":70000}}`, "", 400, `"param":"server.port"`},
		{"require a key", `{"api_key":"sk-test"}`, "", 200, `"api_key_set":true`},
		{"settings then need the key, from loopback too", `{"api_key":""}`, "", 401, `"invalid_api_key"`},
		{"a wrong key does not do", `{"api_key":""}`, "sk-wrong", 401, `"invalid_api_key"`},
		{"move the port", `{"server":{"port":` + strconv.Itoa(moved) + `}}`, "sk-test", 200, `"port":` + strconv.Itoa(moved)},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			code, body := call(t, "PUT", oldURL+"/api/settings", st.body, st.key)
			if code != st.want || !strings.Contains(body, st.wantParam) {
				t.Errorf("PUT %s = %d %s, want %d with %s", st.body, code, body, st.want, st.wantParam)
			}
		})
	}
	newURL := "http://127.0.0.1:" + strconv.Itoa(moved)
	if a.URL() != newURL {
		t.Fatalf("after the port change serving at %q, want %s (the --port override ends)", a.URL(), newURL)
	}
	if code, _ := call(t, "GET", oldURL+"/api/status", "", ""); code != 0 {
		t.Errorf("old address still answers (%d)", code)
	}
	for key, want := range map[string]int{"": 401, "sk-wrong": 401, "sk-test": 200} {
		if code, body := call(t, "GET", newURL+"/v1/models", "", key); code != want {
			t.Errorf("/v1/models with key %q = %d %s, want %d", key, code, body, want)
		}
	}
	if s, _ := db.Settings(); s.Server.Port != moved || !store.KeyMatches("sk-test", s.Server.APIKeyHash) || s.Server.Host != "127.0.0.1" {
		t.Errorf("stored %+v", s.Server)
	}
}

func TestAPIKeyOverride(t *testing.T) {
	db := openStore(t, "")
	port, key := 0, "sk-run"
	a := startApp(t, db, Overrides{Port: &port, APIKey: &key}, "")
	for k, want := range map[string]int{"": 401, "sk-run": 200} {
		if code, _ := call(t, "GET", a.URL()+"/v1/models", "", k); code != want {
			t.Errorf("/v1/models with key %q = %d, want %d", k, code, want)
		}
	}
	if s, _ := db.Settings(); s.Server.APIKeyHash != "" {
		t.Error("the --api-key of one run was stored")
	}
}

func TestShowRunning(t *testing.T) {
	dataDir := t.TempDir()
	port := 0
	a := startApp(t, openStore(t, ""), Overrides{Port: &port}, dataDir)
	if err := ShowRunning(t.Context(), dataDir); err == nil || !strings.Contains(err.Error(), "409 Conflict") {
		t.Fatalf("ShowRunning of a headless instance = %v, want its 409 refusal", err)
	}
	shown := make(chan struct{}, 1)
	a.SetWindow(func() { shown <- struct{}{} })
	if err := ShowRunning(t.Context(), dataDir); err != nil {
		t.Fatalf("ShowRunning = %v", err)
	}
	select {
	case <-shown:
	default:
		t.Error("the running instance did not show its window")
	}
	a.Close()
	if err := ShowRunning(t.Context(), dataDir); !errors.Is(err, ErrNoInstanceURL) {
		t.Errorf("ShowRunning after exit = %v, want ErrNoInstanceURL", err)
	}
}
