package app

import (
	"encoding/json"
	"net"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lmx-app/lmx/app/api"
)

// The steps of TestManagementAPIMatchesItsDocument, in order.

// statusAndDocument reads the status and the document itself.
func (c *docCheck) statusAndDocument() {
	for _, op := range []string{"GET /api/status", "GET /api/openapi.json"} {
		code, body := c.call(op, "", "")
		c.want(code, 200, op, body)
	}
}

// settings sends GET's body back with PUT (a round trip that changes
// nothing), then bodies the app refuses.
func (c *docCheck) settings() {
	code, got := c.call("GET /api/settings", "", "")
	c.want(code, 200, "GET /api/settings", got)
	code, put := c.call("PUT /api/settings", "", string(got))
	c.want(code, 200, "PUT /api/settings", put)
	if string(put) != string(got) {
		c.t.Errorf("PUT of GET's body changed the settings:\n got %s\nwant %s", put, got)
	}
	// The token is write-only: the schema refuses a response that holds it.
	for _, body := range []string{`{"library":{"hub_token":"hf_doc"}}`, `{"library":{"hub_token":""}}`} {
		code, got := c.call("PUT /api/settings", "", body)
		c.want(code, 200, "PUT /api/settings "+body, got)
	}
	refused := []struct {
		body string
		want int
	}{
		{`{"server":{"port":70000}}`, 400},
		{`{"server":{"port":"http"}}`, 400},
		{`{"bogus":1}`, 400},
		{`not json`, 400},
		{strings.Repeat(" ", api.DefaultMaxBodyBytes+1), 413},
	}
	for _, r := range refused {
		code, body := c.call("PUT /api/settings", "", r.body)
		c.want(code, r.want, "PUT /api/settings "+r.body[:min(len(r.body), 40)], body)
	}
}

// startAndStop moves the server to a busy port (the settings are saved but
// the server cannot start), back to a free one, then stops and starts it.
func (c *docCheck) startAndStop() {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	defer busy.Close()
	steps := []struct {
		op, body string
		want     int
		running  bool
	}{
		{"PUT /api/settings", `{"server":{"port":` + strconv.Itoa(busy.Addr().(*net.TCPAddr).Port) + `}}`, 500, false},
		{"POST /api/server/start", "", 500, false},
		{"PUT /api/settings", `{"server":{"port":` + strconv.Itoa(freePort(c.t)) + `}}`, 200, false},
		{"POST /api/server/start", "", 200, true},
		{"POST /api/server/stop", "", 200, false},
		{"POST /api/server/start", "", 200, true},
	}
	for _, st := range steps {
		code, body := c.call(st.op, "", st.body)
		c.want(code, st.want, st.op+" "+st.body, body)
		if running := c.app.URL() != ""; running != st.running {
			c.t.Errorf("after %s %s the server runs: %v, want %v", st.op, st.body, running, st.running)
		}
	}
}

// window asks a headless app, then one with a window, to show it.
func (c *docCheck) window() {
	code, body := c.call("POST /api/window/show", "", "")
	c.want(code, 409, "POST /api/window/show (headless)", body)
	c.app.SetWindow(func() {})
	code, body = c.call("POST /api/window/show", "", "")
	c.want(code, 204, "POST /api/window/show", body)
}

// library searches the fake Hub, pulls, lists, cancels and deletes, each
// also with requests the app refuses.
func (c *docCheck) library() {
	id := url.PathEscape(stories + "@main")
	c.run([]step{
		{"GET /api/models", "", "", 200},
		{"GET /api/hub/search", "/api/hub/search?q=stories", "", 200},
		{"POST /api/models/pull", "", `{"repo":"` + stories + `"}`, 202},
		{"POST /api/models/pull", "", `{"repo":"../etc"}`, 400},
		{"POST /api/models/pull", "", `{"repo":"mlx-community/gated"}`, 403},
		{"POST /api/models/pull", "", `{"repo":"` + stories + `","revision":"nope"}`, 404},
		{"POST /api/models/pull", "", `{"repo":"` + strings.Repeat("a", api.DefaultMaxBodyBytes) + `"}`, 413},
	})
	c.poll("GET /api/downloads", 30*time.Second, func(b []byte) bool { return strings.Contains(string(b), `"state":"done"`) })
	c.run([]step{
		{"GET /api/models", "", "", 200},
		{"POST /api/downloads/{id}/cancel", "/api/downloads/" + id + "/cancel", "", 200},
		{"POST /api/downloads/{id}/cancel", "/api/downloads/" + id + "/cancel", "", 404},
		{"POST /api/downloads/{id}/cancel", "/api/downloads/main/cancel", "", 400},
		{"DELETE /api/models/{repo}", "/api/models/" + stories, "", 200},
		{"DELETE /api/models/{repo}", "/api/models/" + stories, "", 404},
		{"DELETE /api/models/{repo}", "/api/models/a/b/c", "", 400},
	})
	c.brokenLibrary()
}

// brokenLibrary points the library at a closed port, where searches and
// pulls fail, and at a file for the cache, which cannot be scanned; then
// sets both back.
func (c *docCheck) brokenLibrary() {
	s, err := c.app.Settings()
	if err != nil {
		c.t.Fatal(err)
	}
	file := filepath.Join(c.t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		c.t.Fatal(err)
	}
	dead := "http://127.0.0.1:" + strconv.Itoa(freePort(c.t))
	c.run([]step{
		{"PUT /api/settings", "", `{"library":{"endpoint":"` + dead + `","hub_cache":"` + file + `"}}`, 200},
		{"GET /api/hub/search", "/api/hub/search?q=stories&author=mlx-community", "", 500},
		{"POST /api/models/pull", "", `{"repo":"` + stories + `"}`, 500},
		{"GET /api/models", "", "", 500},
		{"GET /api/status", "", "", 200},
		{"PUT /api/settings", "", `{"library":{"endpoint":"` + s.Library.Endpoint + `","hub_cache":"` + s.Library.HubCache + `"}}`, 200},
	})
}

// step is one call of an operation: target is "" for the documented path.
type step struct {
	op, target, body string
	want             int
}

// run calls each step's operation and checks its status.
func (c *docCheck) run(steps []step) {
	c.t.Helper()
	for _, st := range steps {
		code, body := c.call(st.op, st.target, st.body)
		c.want(code, st.want, st.op+" "+st.target+" "+st.body[:min(len(st.body), 60)], body)
	}
}

// demoInstall installs the demo model from the fake PyPI and follows the
// status until it is ready (with MLX) or failed (without).
func (c *docCheck) demoInstall() {
	code, body := c.call("POST /api/models/demo", "", "")
	c.want(code, 202, "POST /api/models/demo", body)
	body = c.poll("GET /api/status", 3*time.Minute, func(b []byte) bool {
		var s api.Status
		return json.Unmarshal(b, &s) == nil && s.Demo != nil && (s.Demo.State == demoReady || s.Demo.State == demoFailed)
	})
	var s api.Status
	_ = json.Unmarshal(body, &s)
	if want := map[bool]string{true: demoReady, false: demoFailed}[s.Engine.Available]; s.Demo.State != want {
		c.t.Errorf("demo install ended %+v with the engine available: %v", s.Demo, s.Engine.Available)
	}
	// Without a cache folder an install cannot start.
	for _, env := range []string{"LMX_CACHE_DIR", "XDG_CACHE_HOME", "HOME"} {
		c.t.Setenv(env, "")
	}
	code, body = c.call("POST /api/models/demo", "", "")
	c.want(code, 500, "POST /api/models/demo without a cache folder", body)
}

// refusals sends every documented operation through the network handler
// with a Host that is not allowed (403), then, with an API key set, from
// another machine without it (401).
func (c *docCheck) refusals() {
	send := func(op, host, remote string) {
		target := strings.NewReplacer("{repo}", stories, "{id}", url.PathEscape(stories+"@main")).Replace(operation(op).Path)
		r := httptest.NewRequest(operation(op).Method, target, strings.NewReader("{}"))
		r.Host, r.RemoteAddr = host, remote
		w := httptest.NewRecorder()
		c.app.Handler().ServeHTTP(w, r)
		c.check(op, w.Code, w.Header().Get("Content-Type"), w.Body.Bytes())
	}
	code, body := c.call("PUT /api/settings", "", `{"api_key":"sk-doc"}`)
	c.want(code, 200, "PUT /api/settings api_key", body)
	for _, op := range c.spec.Operations() {
		name := op.Method + " " + op.Path
		send(name, "rebinding.example", "127.0.0.1:50000")
		send(name, "127.0.0.1", "192.168.1.20:50000")
		if !c.seen[name+" 403"] || !c.seen[name+" 401"] {
			c.t.Errorf("%s was not refused with 403 and 401", name)
		}
	}
	code, body = c.call("PUT /api/settings", "", `{"api_key":""}`)
	c.want(code, 200, "PUT /api/settings api_key removed", body)
}

// eventStream validates every event the stream sent during the test; they
// must include a download's progress and the demo install.
func (c *docCheck) eventStream() {
	var n, downloads, demo int
drain:
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				c.t.Fatal("the event stream ended early")
			}
			n++
			c.check("GET /api/events", 200, "text/event-stream", ev)
			if strings.Contains(string(ev), `\"downloads\":[{`) {
				downloads++
			}
			if strings.Contains(string(ev), `\"demo\":{`) {
				demo++
			}
		case <-time.After(200 * time.Millisecond):
			break drain
		}
	}
	if downloads == 0 || demo == 0 {
		c.t.Errorf("%d events, %d with downloads, %d with the demo install: want both", n, downloads, demo)
	}
}
