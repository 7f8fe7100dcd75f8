package guitest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
)

// serveData runs "bin serve --port 0 --data-dir data [extra...]" like Serve,
// but on a data folder the caller keeps, so a second server finds what the
// first saved; stop ends it (SIGTERM, clean exit) before the test ends.
func serveData(t *testing.T, bin, data string, env []string, extra ...string) (url string, stopIt func()) {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"serve", "--port", "0", "--data-dir", data}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stderr = dir, env, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lmx serve: %v", err)
	}
	stopped := false
	stopIt = func() {
		if !stopped {
			stopped = true
			stop(t, cmd)
		}
	}
	t.Cleanup(stopIt)
	if url, err = servingURL(stdout, 30*time.Second); err != nil {
		t.Fatalf("lmx serve: %v", err)
	}
	return url, stopIt
}

// TestSettingsInChromium drives the Settings page of a real `lmx serve`
// (stories260k loaded on MLX) with frontend/tests/settings.mjs: axe-core in
// light and dark and screenshots; the prefix cache's hit rate and its Clear
// button; a refused value; every setting changed in the form and saved, a
// CORS origin applied at once; an API key set in the UI is then required on
// /v1 while the UI keeps working; launch at login writes the autostart
// entry. Then the server restarts on the same data folder and the page
// must show the saved settings and /v1 must still need the key.
func TestSettingsInChromium(t *testing.T) {
	frontend := requireBrowser(t)
	mlxtest.Require(t)
	bin := Build(t)
	data := t.TempDir()
	config := t.TempDir() // XDG_CONFIG_HOME: where the autostart entry goes
	env := append(os.Environ(), "HF_HUB_CACHE="+t.TempDir(), "XDG_CONFIG_HOME="+config)
	model := testmodel.StoriesChat(t, t.TempDir(), "stories-chat")
	const key = "sk-lmx-settings-test-0123456789"

	url, stop1 := serveData(t, bin, data, env, "--model", model)
	id := servedModel(t, url)
	runScript(t, frontend, "settings.mjs", 3*time.Minute, "edit", url, artifacts(t), id, key)

	entry, err := os.ReadFile(filepath.Join(config, "autostart", "lmx.desktop"))
	if err != nil {
		t.Fatalf("launch at login left no autostart entry: %v", err)
	}
	real, _ := filepath.EvalSymlinks(bin)
	if !strings.Contains(string(entry), `Exec="`+real+`"`) {
		t.Errorf("the autostart entry does not run %s:\n%s", real, entry)
	}
	stop1()

	url, _ = serveData(t, bin, data, env, "--model", model)
	runScript(t, frontend, "settings.mjs", 2*time.Minute, "check", url, artifacts(t), id, key)
}
