package api

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/library"
)

// send makes one request with a JSON body from remote through h.
func send(h *Handler, method, target, body, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host, r.RemoteAddr = "127.0.0.1:1235", remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestSettingsEndpoints(t *testing.T) {
	b := &fakeBackend{settings: store.DefaultSettings()}
	h := New(Config{}, b, NewHub())
	steps := []struct {
		name      string
		body      string
		want      int
		wantParam string // for 400s
		check     func(store.Settings) bool
	}{
		{"change the port only", `{"server":{"port":1240}}`, 200, "",
			func(s store.Settings) bool {
				return s.Server.Port == 1240 && s.Server.Host == "127.0.0.1" && s.Cache.PromptCacheBytes > 0
			}},
		{"invalid port", `{"server":{"port":0}}`, 400, "server.port",
			func(s store.Settings) bool { return s.Server.Port == 1240 }},
		{"port of the wrong type", `{"server":{"port":"http"}}`, 400, "server.port",
			func(s store.Settings) bool { return s.Server.Port == 1240 }},
		{"invalid kv bits", `{"cache":{"kv_bits":7}}`, 400, "cache.kv_bits",
			func(s store.Settings) bool { return s.Cache.KVBits == 0 }},
		{"unknown field", `{"bogus":1}`, 400, "", nil},
		{"set the api key", `{"api_key":"sk-1"}`, 200, "",
			func(s store.Settings) bool { return store.KeyMatches("sk-1", s.Server.APIKeyHash) }},
		{"the hash is not writable", `{"server":{"api_key_hash":"00"}}`, 200, "",
			func(s store.Settings) bool { return store.KeyMatches("sk-1", s.Server.APIKeyHash) }},
		{"cors origins replace the list", `{"server":{"cors_origins":["http://localhost:3000"]}}`, 200, "",
			func(s store.Settings) bool { return len(s.Server.CORSOrigins) == 1 && s.Server.Port == 1240 }},
		{"store a hub token", `{"library":{"hub_token":"hf_secret"}}`, 200, "",
			func(s store.Settings) bool { return s.Library.HubToken == "hf_secret" && s.Server.Port == 1240 }},
		{"remove the api key", `{"api_key":""}`, 200, "",
			func(s store.Settings) bool { return s.Server.APIKeyHash == "" }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			w := send(h, "PUT", "/api/settings", st.body, "127.0.0.1:50000")
			if w.Code != st.want {
				t.Fatalf("PUT %s = %d, want %d: %s", st.body, w.Code, st.want, w.Body.String())
			}
			if st.want == 400 {
				e := decodeError(t, w)
				if strings.Contains(e.Message, "Settings.") {
					t.Errorf("message %q names a Go type, not the JSON field", e.Message)
				}
				if (st.wantParam == "") != (e.Param == nil) || e.Param != nil && *e.Param != st.wantParam || e.Type != "invalid_request_error" {
					t.Errorf("error %+v, want param %q", e, st.wantParam)
				}
			}
			for _, secret := range []string{"api_key_hash", "sk-1", "hf_secret"} {
				if strings.Contains(w.Body.String(), secret) {
					t.Errorf("response leaks %s: %s", secret, w.Body.String())
				}
			}
			s, _ := b.Settings()
			if st.check != nil && !st.check(s) {
				t.Errorf("stored settings after %s: %+v", st.body, s.Server)
			}
		})
	}
	get := send(h, "GET", "/api/settings", "", "127.0.0.1:50000")
	var body map[string]any
	if err := json.Unmarshal(get.Body.Bytes(), &body); err != nil || body["api_key_set"] != false || body["hub_token_set"] != true || body["server"].(map[string]any)["port"] != 1240.0 {
		t.Errorf("GET /api/settings = %s (%v)", get.Body.String(), err)
	}
}

func TestOpenAIModelsListsSupportedOnly(t *testing.T) {
	added := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	modified := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	b := &fakeBackend{models: []LocalModel{
		{Model: library.Model{ID: "mlx-community/Qwen3-0.6B-4bit", Repo: "mlx-community/Qwen3-0.6B-4bit", Supported: true, ModifiedAt: modified}, AddedAt: added},
		{Model: library.Model{ID: "mlx-community/whisper", Repo: "mlx-community/whisper", Reason: "unsupported model_type whisper"}},
		{Model: library.Model{ID: "/models/llama", Supported: true, ModifiedAt: modified}},
		{Model: library.Model{ID: "/other/llama", Supported: true, ModifiedAt: modified}},
	}, loaded: []string{"mlx-community/Qwen3-0.6B-4bit"}}
	w := send(New(Config{}, b, NewHub()), "GET", "/v1/models", "", "127.0.0.1:50000")
	var got ModelList
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("GET /v1/models = %d %s", w.Code, w.Body.String())
	}
	want := []Model{
		{ID: "mlx-community/Qwen3-0.6B-4bit", Object: "model", Created: added.Unix(), OwnedBy: "mlx-community", Loaded: true, Aliases: []string{"Qwen3-0.6B-4bit"}},
		// Two folders named llama: neither gets the ambiguous alias.
		{ID: "/models/llama", Object: "model", Created: modified.Unix(), OwnedBy: "local"},
		{ID: "/other/llama", Object: "model", Created: modified.Unix(), OwnedBy: "local"},
	}
	if got.Object != "list" || len(got.Data) != len(want) {
		t.Fatalf("models %+v, want %+v", got, want)
	}
	for i := range want {
		if !reflect.DeepEqual(got.Data[i], want[i]) {
			t.Errorf("model %d = %+v, want %+v", i, got.Data[i], want[i])
		}
	}
}

func TestShowWindowIsLoopbackOnly(t *testing.T) {
	cases := []struct {
		remote    string
		want      int
		wantShown int
	}{{"127.0.0.1:50000", 204, 1}, {"[::1]:50000", 204, 2}, {"192.168.1.20:50000", 403, 2}}
	b := &fakeBackend{}
	h := New(Config{AllowedHosts: []string{"studio.local"}}, b, NewHub())
	for _, c := range cases {
		t.Run(c.remote, func(t *testing.T) {
			w := send(h, "POST", "/api/window/show", "", c.remote)
			if w.Code != c.want || b.shown != c.wantShown {
				t.Errorf("POST /api/window/show from %s = %d (shown %d), want %d (shown %d)", c.remote, w.Code, b.shown, c.want, c.wantShown)
			}
		})
	}
}

func TestLibraryRequestsAreValidated(t *testing.T) {
	cases := []struct {
		name, method, target, body, wantParam string
	}{
		{"pull traversal", "POST", "/api/models/pull", `{"repo":"../etc"}`, "repo"},
		{"pull absolute path", "POST", "/api/models/pull", `{"repo":"/etc/passwd"}`, "repo"},
		{"pull bad revision", "POST", "/api/models/pull", `{"repo":"mlx-community/x","revision":"../../x"}`, "revision"},
		{"pull repo of the wrong type", "POST", "/api/models/pull", `{"repo":7}`, "repo"},
		{"delete three levels", "DELETE", "/api/models/a/b/c", "", "repo"},
		{"delete escaped traversal", "DELETE", "/api/models/mlx-community/..%2F..%2Fetc", "", "repo"},
		{"cancel without revision", "POST", "/api/downloads/mlx-community%2Fx/cancel", "", "id"},
	}
	h := New(Config{}, &fakeBackend{}, NewHub())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := send(h, c.method, c.target, c.body, "127.0.0.1:50000")
			if w.Code != 400 {
				t.Fatalf("%s %s = %d, want 400: %s", c.method, c.target, w.Code, w.Body.String())
			}
			if e := decodeError(t, w); e.Param == nil || *e.Param != c.wantParam {
				t.Errorf("error %+v, want param %q", e, c.wantParam)
			}
		})
	}
}
