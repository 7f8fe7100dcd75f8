// Package guitest builds the lmx binary and runs it as a real process for
// end-to-end tests: the headless server, the dashboard in headless Chromium,
// and the desktop window under Xvfb.
package guitest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testutil"
)

// RequireEnv, when "1", turns the skips for missing GUI tools into failures
// (CI sets it once it installs them).
const RequireEnv = "LMX_REQUIRE_GUI"

// SkipOrFail skips the test with reason, or fails it when RequireEnv is set.
func SkipOrFail(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (%s=1)", reason, RequireEnv)
	}
	t.Skip(reason)
}

// RequireUI skips (or fails) when frontend/dist holds no built UI: the binary
// embeds dist/ at build time, so the UI must be built first.
func RequireUI(t *testing.T) {
	t.Helper()
	index := filepath.Join(testutil.RepoRoot(t), "frontend", "dist", "index.html")
	if _, err := os.Stat(index); err != nil {
		SkipOrFail(t, "the UI is not built: run `npm ci && npm run build` in frontend/")
	}
}

// Build compiles lmx with the given build tags into a temporary folder and
// returns the binary's path.
func Build(t *testing.T, tags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lmx")
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command("go", append(args, ".")...)
	cmd.Dir = testutil.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, out)
	}
	return bin
}

// NoEngineEnv is the environment of an lmx process that must not find the
// MLX runtime.
func NoEngineEnv() []string {
	return append(os.Environ(), "LMX_MLX_LIB=/nonexistent")
}

// Serve runs "bin serve --port 0 [extra...]" from a fresh temporary folder (so no
// repository build/lib is found), waits for its "serving at" line and returns
// the URL. Unless env sets HF_HUB_CACHE, the model library is an empty
// folder, so the user's models do not leak in. The process gets SIGTERM when
// the test ends and must exit 0.
func Serve(t *testing.T, bin string, env []string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	if !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "HF_HUB_CACHE=") }) {
		env = append(env, "HF_HUB_CACHE="+filepath.Join(dir, "hub"))
	}
	args := append([]string{"serve", "--port", "0", "--data-dir", filepath.Join(dir, "data")}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stderr = dir, env, os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lmx serve: %v", err)
	}
	t.Cleanup(func() { stop(t, cmd) })
	url, err := servingURL(stdout, 30*time.Second)
	if err != nil {
		t.Fatalf("lmx serve: %v", err)
	}
	return url
}

// servingURL reads the "LMX … serving at URL" line.
func servingURL(stdout io.Reader, limit time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), " serving at "); ok {
				found <- url
				return
			}
		}
		close(found)
	}()
	select {
	case url, ok := <-found:
		if !ok {
			return "", fmt.Errorf("exited without printing its URL")
		}
		return url, nil
	case <-time.After(limit):
		return "", fmt.Errorf("no URL after %v", limit)
	}
}

// stop sends SIGTERM and expects a clean exit within 10 s.
func stop(t *testing.T, cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("lmx serve exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("lmx serve ignored SIGTERM for 10 s")
	}
}
