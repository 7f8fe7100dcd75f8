package app

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/store"
)

// errNoLib stands in for metal's LoadError in tests of the app's reaction.
var errNoLib = errors.New("libmlx not found; searched /nonexistent; run make mlx")

// newTestApp returns an App on a free loopback port whose engine fails to load
// (or loads, with a device), and stops it when the test ends.
func newTestApp(t *testing.T, engineOK bool) *App {
	t.Helper()
	eng := Engine{Load: func() error { return errNoLib }}
	if engineOK {
		eng = Engine{
			Load:   func() error { return nil },
			Device: func() (map[string]any, error) { return map[string]any{"architecture": "test"}, nil },
		}
	}
	mem := func() (api.Memory, error) { return api.Memory{Total: 8 << 30}, nil }
	port := 0
	a, err := New(Config{Version: "v-test", Overrides: Overrides{Port: &port}}, openStore(t, ""), eng, mem)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// openStore opens a store in a temporary folder whose library is an empty
// temporary hub cache reached through endpoint ("" for the default).
func openStore(t *testing.T, endpoint string) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cache := t.TempDir()
	if _, err := db.UpdateSettings(func(s *store.Settings) error {
		s.Library.HubCache, s.Library.Endpoint = cache, endpoint
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

// getStatus fetches /api/status from url.
func getStatus(t *testing.T, url string) api.Status {
	t.Helper()
	resp, err := http.Get(url + "/api/status")
	if err != nil {
		t.Fatalf("GET /api/status: %v", err)
	}
	defer resp.Body.Close()
	var s api.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	return s
}

func TestEngineAvailability(t *testing.T) {
	cases := []struct {
		name      string
		ok        bool
		wantError string
	}{
		{"library missing", false, "/nonexistent"},
		{"library loaded", true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newTestApp(t, c.ok)
			if err := a.LoadEngine(); (err == nil) != c.ok {
				t.Fatalf("LoadEngine = %v", err)
			}
			if err := a.StartServer(); err != nil {
				t.Fatal(err)
			}
			s := getStatus(t, a.URL())
			if s.Engine.Available != c.ok || !strings.Contains(s.Engine.Error, c.wantError) {
				t.Errorf("engine %+v, want available=%v error containing %q", s.Engine, c.ok, c.wantError)
			}
			if c.ok && s.Engine.Device["architecture"] != "test" {
				t.Errorf("device %v, want the engine's device info", s.Engine.Device)
			}
			if !s.Server.Running || s.Server.URL != a.URL() || s.Version != "v-test" || s.Memory == nil || s.Memory.Total != 8<<30 {
				t.Errorf("status %+v", s)
			}
		})
	}
}

func TestStopOverHTTP(t *testing.T) {
	a := newTestApp(t, false)
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	url := a.URL()
	events := openEvents(t, url)
	resp, err := http.Post(url+"/api/server/stop", "application/json", nil)
	if err != nil {
		t.Fatalf("stop request got no answer: %v", err)
	}
	var s api.Status
	_ = json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if s.Server.Running {
		t.Errorf("stop answered %+v, want running=false", s.Server)
	}
	if _, err := http.Get(url + "/api/status"); err == nil {
		t.Error("server still answers after stop")
	}
	if err := readUntilEOF(events, 5*time.Second); err != nil {
		t.Errorf("SSE stream after stop: %v", err)
	}
	if err := a.StartServer(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if s := getStatus(t, a.URL()); !s.Server.Running {
		t.Errorf("after restart %+v", s.Server)
	}
}

// openEvents opens /api/events and reads the first event's header line.
func openEvents(t *testing.T, url string) *bufio.Reader {
	t.Helper()
	resp, err := http.Get(url + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	r := bufio.NewReader(resp.Body)
	if line, err := r.ReadString('\n'); err != nil || line != "event: status\n" {
		t.Fatalf("first SSE line %q, %v", line, err)
	}
	return r
}

// readUntilEOF reads r until it ends, failing after limit.
func readUntilEOF(r *bufio.Reader, limit time.Duration) error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := r.ReadString('\n'); err != nil {
				done <- nil
				return
			}
		}
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		return errors.New("stream still open")
	}
}

func TestStartFailures(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	cases := []struct {
		name    string
		s       ServerSettings
		wantIs  error
		wantMsg string
	}{
		{"port in use", ServerSettings{Host: "127.0.0.1", Port: busyPort}, nil, "address already in use"},
		{"all interfaces without key", ServerSettings{Host: "0.0.0.0"}, ErrKeyRequired, "API key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newTestApp(t, false)
			if err := a.ApplySettings(c.s); err != nil {
				t.Fatal(err)
			}
			err := a.StartServer()
			if err == nil || (c.wantIs != nil && !errors.Is(err, c.wantIs)) || !strings.Contains(err.Error(), c.wantMsg) {
				t.Fatalf("StartServer = %v, want %v containing %q", err, c.wantIs, c.wantMsg)
			}
			st := a.Status(t.Context()).Server
			if st.Running || !strings.Contains(st.Error, c.wantMsg) || a.URL() != "" {
				t.Errorf("server status %+v, want stopped with the error", st)
			}
		})
	}
}

func TestApplySettings(t *testing.T) {
	a := newTestApp(t, false)
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	oldURL := a.URL()
	if err := a.ApplySettings(ServerSettings{Host: "127.0.0.1", APIKeyHash: store.HashAPIKey("k")}); err != nil {
		t.Fatal(err)
	}
	if a.URL() != oldURL {
		t.Errorf("same address restarted the server: %s -> %s", oldURL, a.URL())
	}
	cases := []struct {
		name string
		key  string
		want int
	}{{"no key", "", 401}, {"key", "k", 200}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", a.URL()+"/v1/models", nil)
			if c.key != "" {
				req.Header.Set("Authorization", "Bearer "+c.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("/v1/models = %d, want %d", resp.StatusCode, c.want)
			}
		})
	}
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	port := free.Addr().(*net.TCPAddr).Port
	free.Close()
	if err := a.ApplySettings(ServerSettings{Host: "127.0.0.1", Port: port}); err != nil {
		t.Fatalf("move to port %d: %v", port, err)
	}
	if s := getStatus(t, a.URL()); s.Server.Port != port {
		t.Errorf("after moving, status port %d, want %d", s.Server.Port, port)
	}
	if _, err := http.Get(oldURL + "/api/status"); err == nil {
		t.Error("old address still answers")
	}
}
