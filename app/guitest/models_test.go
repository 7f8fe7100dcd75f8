package guitest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/hub/hubtest"
)

// requireBrowser skips (or fails, with LMX_REQUIRE_GUI=1) unless the UI is
// built and node, playwright-core and Chromium are installed.
func requireBrowser(t *testing.T) string {
	t.Helper()
	RequireUI(t)
	frontend := filepath.Join(testutil.RepoRoot(t), "frontend")
	if _, err := exec.LookPath("node"); err != nil {
		SkipOrFail(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join(frontend, "node_modules", "playwright-core")); err != nil {
		SkipOrFail(t, "playwright-core is not installed: run `npm ci` in frontend/")
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		SkipOrFail(t, "Chromium is not installed (apt-get install chromium, or set CHROMIUM)")
	}
	return frontend
}

// runScript runs a browser script of frontend/tests with args and fails the
// test when it fails.
func runScript(t *testing.T, frontend, script string, limit time.Duration, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.Join("tests", script)}, args...)...)
	cmd.Dir = frontend
	out, err := cmd.CombinedOutput()
	t.Logf("%s:\n%s", script, out)
	if err != nil {
		t.Fatalf("%s in Chromium: %v", script, err)
	}
}

// TestModelsPageInChromium drives the Models page of a real `lmx serve`
// (with the MLX runtime) in headless Chromium with frontend/tests/models.mjs:
// a search of a fake Hub shows size, quantization and "will it fit"; the
// download of stories260k, throttled so it takes seconds, shows progress,
// speed and ETA, is paused (its progress stays), resumed and finishes into
// the library, where the model is loaded, pinned, unpinned, unloaded and
// deleted; importing a truncated GGUF file says why it failed, and the demo
// model's GGUF file is imported into the library; axe-core
// passes in light and dark, and the page is screenshot in both.
func TestModelsPageInChromium(t *testing.T) {
	frontend := requireBrowser(t)
	mlxtest.Require(t)
	const repo = "mlx-community/stories260k"
	hub := hubtest.New(t)
	r := hub.AddFolder(t, repo, filepath.Join(testutil.Fixtures(t), "models", "stories260k"))
	// 1 MB of weights at 160 kB/s: about six seconds of visible progress.
	hub.SetFault(r, "model.safetensors", hubtest.Fault{BytesPerSec: 160 << 10})
	hub.AddFolder(t, "mlx-community/stories260k-copy", filepath.Join(testutil.Fixtures(t), "models", "stories260k"))

	gguf := testutil.DemoGGUF(t)
	truncated := filepath.Join(t.TempDir(), "truncated.gguf")
	head, err := readHead(gguf, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, head, 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HF_ENDPOINT="+hub.URL, "LMX_CACHE_DIR="+t.TempDir())
	url := Serve(t, Build(t), env)
	runScript(t, frontend, "models.mjs", 4*time.Minute, url, filepath.Join(testutil.RepoRoot(t), "test-artifacts"), repo, truncated, gguf)
}

// readHead reads the first n bytes of path.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := io.ReadFull(f, buf)
	return buf[:k], err
}
