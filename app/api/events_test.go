package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lmx-app/lmx/store"
)

func TestWriteErrorClasses(t *testing.T) {
	cases := []struct {
		name     string
		err      error
		want     int
		wantType string
		wantCode any
	}{
		{"wrapped sentinel", fmt.Errorf("check: %w", ErrUnauthorized), 401, "invalid_request_error", "invalid_api_key"},
		{"body limit from net/http", &http.MaxBytesError{Limit: 10}, 413, "invalid_request_error", "body_too_large"},
		{"unknown error", errors.New("disk on fire"), 500, "server_error", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			writeError(w, c.err)
			if w.Code != c.want {
				t.Fatalf("status %d, want %d", w.Code, c.want)
			}
			var body map[string]map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			e := body["error"]
			if e["type"] != c.wantType || e["code"] != c.wantCode || e["message"] != c.err.Error() {
				t.Errorf("error %v, want type %s code %v message %q", e, c.wantType, c.wantCode, c.err.Error())
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			writeError(w, fmt.Errorf("read body: %w", err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	h := limitBody(8, read)
	for _, c := range []struct {
		body string
		want int
	}{{"12345678", 204}, {"123456789", 413}} {
		t.Run(fmt.Sprintf("%d bytes", len(c.body)), func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/x", strings.NewReader(c.body)))
			if w.Code != c.want {
				t.Errorf("status %d, want %d: %s", w.Code, c.want, w.Body.String())
			}
		})
	}
}

func TestLocalSkipsNetworkChecks(t *testing.T) {
	h := New(Config{APIKeyHash: store.HashAPIKey("k")}, &fakeBackend{}, NewHub())
	for _, host := range []string{"wails", "wails.localhost", "attacker.example"} {
		t.Run(host, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/models", nil)
			r.Host = host
			r.Header.Set("Origin", "wails://wails")
			w := httptest.NewRecorder()
			h.Local().ServeHTTP(w, r)
			if w.Code != 200 {
				t.Errorf("local status %d, want 200: %s", w.Code, w.Body.String())
			}
			w = httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code == 200 {
				t.Errorf("public handler accepted host %q without key", host)
			}
		})
	}
}

func TestServerActions(t *testing.T) {
	b := &fakeBackend{running: true}
	h := New(Config{}, b, NewHub())
	for _, c := range []struct {
		path string
		want bool
	}{{"/api/server/stop", false}, {"/api/server/start", true}} {
		t.Run(c.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.Local().ServeHTTP(w, httptest.NewRequest("POST", c.path, nil))
			var s Status
			if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || w.Code != 200 {
				t.Fatalf("status %d body %s: %v", w.Code, w.Body.String(), err)
			}
			if s.Server.Running != c.want {
				t.Errorf("running = %v after %s, want %v", s.Server.Running, c.path, c.want)
			}
		})
	}
}

func TestAssets(t *testing.T) {
	ui := fstest.MapFS{"index.html": {Data: []byte("<title>LMX dashboard</title>")}}
	cases := []struct {
		name   string
		assets fstest.MapFS
		want   string
	}{
		{"built UI", ui, "LMX dashboard"},
		{"UI not built", fstest.MapFS{".gitkeep": {}}, "npm run build"},
		{"no assets", nil, "npm run build"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{}
			if c.assets != nil {
				cfg.Assets = c.assets
			}
			w := serve(t, cfg, "GET", "/", nil)
			if w.Code != 200 || !strings.Contains(w.Body.String(), c.want) {
				t.Errorf("GET / = %d %q, want 200 containing %q", w.Code, w.Body.String(), c.want)
			}
		})
	}
}

func TestEventsStream(t *testing.T) {
	b := &fakeBackend{running: true}
	hub := NewHub()
	srv := httptest.NewServer(New(Config{}, b, hub))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := bufio.NewReader(resp.Body)
	first := readEvent(t, events)
	if !first.Server.Running {
		t.Fatalf("first event %+v, want the current status (running)", first)
	}
	waitSubscribed(t, hub)
	hub.Publish(Status{Version: "pushed", Server: ServerStatus{Running: false}})
	second := readEvent(t, events)
	if second.Version != "pushed" || second.Server.Running {
		t.Errorf("second event %+v, want the published status", second)
	}
}

// waitSubscribed waits until the SSE handler has subscribed to hub.
func waitSubscribed(t *testing.T, hub *Hub) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); hub.Subscribers() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("SSE handler never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readEvent reads one "status" event from an SSE stream.
func readEvent(t *testing.T, r *bufio.Reader) Status {
	t.Helper()
	var name, data string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && data != "":
			if name != "status" {
				t.Fatalf("event %q, want status", name)
			}
			var s Status
			if err := json.Unmarshal([]byte(data), &s); err != nil {
				t.Fatalf("event data %q: %v", data, err)
			}
			return s
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}
