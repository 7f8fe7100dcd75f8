package soak

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// MinutesEnv sets the soak's length in minutes (default 2, what CI runs;
// `make soak MINUTES=30` sets it).
const MinutesEnv = "LMX_SOAK_MINUTES"

// soakSettings bound the caches so that they fill early in the soak: MLX
// active memory and RSS are then flat in a healthy server (see Limits).
const soakSettings = `{"cache":{"prompt_cache_bytes":8388608},"memory":{"cache_limit_bytes":67108864}}`

// TestSoak starts the real lmx serve with stories260k (chat template) and
// the tiny Qwen3 (real tokenizer and tool-calling template), sends mixed
// traffic for LMX_SOAK_MINUTES (2) minutes and fails when a request fails,
// a kind of traffic never succeeded, no prefix-cache hit happened, or RSS,
// goroutines, open files or MLX active memory grew (Limits). The figures go
// to the log and test-artifacts/soak-<N>m.txt.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak runs minutes")
	}
	mlxtest.Require(t)
	minutes := 2.0
	if v := os.Getenv(MinutesEnv); v != "" {
		var err error
		if minutes, err = strconv.ParseFloat(v, 64); err != nil || !(minutes > 0) {
			t.Fatalf("%s=%q: want a number of minutes > 0", MinutesEnv, v)
		}
	}
	d := time.Duration(minutes * float64(time.Minute))
	srv := startSoakServer(t)
	rep, err := Run(context.Background(), Options{URL: srv.URL, ChatModel: "stories", ToolModel: "qwen3-tiny", Duration: d,
		Out: testWriter{t}})
	if rep == nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%s, %s/%s, %d CPUs (nproc), %s\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), machine())
	rep.Print(&out)
	t.Log("\n" + out.String())
	saveArtifact(t, fmt.Sprintf("soak-%gm.txt", minutes), out.Bytes())
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	checkReport(t, rep)
	if srv.Exited() {
		t.Fatal("lmx serve exited during the soak")
	}
}

// checkReport fails on failed requests, a kind that never succeeded, no
// prefix hits, or growth.
func checkReport(t *testing.T, rep *Report) {
	if n := rep.Failed(); n > 0 {
		t.Errorf("%d requests failed: %s", n, strings.Join(rep.Errors, "; "))
	}
	for _, k := range kinds {
		if rep.ByKind[k][0] == 0 {
			t.Errorf("no %s request succeeded", k)
		}
	}
	if last := rep.Samples[len(rep.Samples)-1]; last.PrefixHits == 0 {
		t.Error("no prefix-cache hit although every chat shares its system prompt")
	}
	if rep.Verdict != nil {
		t.Errorf("not flat: %v", rep.Verdict)
	}
}

// startSoakServer builds lmx, writes the soak's settings with a first run,
// and starts it again with both models loaded.
func startSoakServer(t *testing.T) *Server {
	bin := guitest.Build(t)
	dir := t.TempDir()
	testmodel.StoriesChat(t, dir, "stories")
	testmodel.Qwen3Tiny(t, dir, "qwen3-tiny")
	data, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "serve.log")
	env := append(os.Environ(), "HF_HUB_CACHE="+filepath.Join(dir, "hub"))
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("lmx serve log (tail):\n%s", tail(b, 4000))
			}
		}
	})
	first, err := Start(bin, data, logPath, env, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	putSettings(t, first.URL, soakSettings)
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	srv, err := Start(bin, data, logPath, env, 3*time.Minute,
		"--model", filepath.Join(dir, "stories"), "--model", filepath.Join(dir, "qwen3-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("stop lmx serve: %v", err)
		}
	})
	return srv
}

// putSettings sends PUT /api/settings and requires a 200.
func putSettings(t *testing.T, url, body string) {
	req, _ := http.NewRequest("PUT", url+"/api/settings", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /api/settings %s: %s", body, resp.Status)
	}
}

// machine is the kernel line and total memory.
func machine() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	mem := "?"
	if m, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Join(strings.Fields(strings.SplitN(string(m), "\n", 2)[0]), " ")
	}
	return fmt.Sprintf("kernel %s, %s", strings.TrimSpace(string(b)), mem)
}

func saveArtifact(t *testing.T, name string, b []byte) {
	dir := filepath.Join(testutil.RepoRoot(t), "test-artifacts")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
