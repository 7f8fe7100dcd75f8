package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub"
	"github.com/lmx-app/lmx/store/hub/hubtest"
	"github.com/lmx-app/lmx/store/library"
)

// dirs are the folders one CLI test uses, as flags.
type dirs struct{ data, cache, endpoint string }

func (d dirs) flags() []string {
	return []string{"--data-dir", d.data, "--hub-cache", d.cache, "--endpoint", d.endpoint}
}

// run calls a Run function and returns its exit code and outputs.
func run(fn func(context.Context, []string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := fn(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func setup(t *testing.T) (dirs, string) {
	t.Helper()
	h := hubtest.New(t)
	stories := filepath.Join(testutil.Fixtures(t), "models", "stories260k")
	h.AddFolder(t, "mlx-community/stories260k", stories)
	return dirs{data: t.TempDir(), cache: t.TempDir(), endpoint: h.URL}, stories
}

func TestPullStories260kFromFakeHub(t *testing.T) {
	d, stories := setup(t)
	code, out, errOut := run(RunPull, append([]string{"mlx-community/stories260k"}, d.flags()...)...)
	if code != 0 {
		t.Fatalf("lmx pull exited %d: %s", code, errOut)
	}
	if !strings.Contains(out, "100%") || !strings.Contains(out, "installed") || strings.Contains(out, "\r") {
		t.Errorf("pull output without plain progress lines and summary:\n%s", out)
	}
	m, err := library.Cache{Dir: d.cache}.Find("mlx-community/stories260k")
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(stories)
	for _, e := range entries {
		want, _ := os.ReadFile(filepath.Join(stories, e.Name()))
		got, err := os.ReadFile(filepath.Join(m.Path, e.Name()))
		if hub.MLXFiles(e.Name()) && !bytes.Equal(got, want) {
			t.Errorf("%s differs from the fixture (%v)", e.Name(), err)
		}
	}
	if !m.Supported {
		t.Errorf("pulled model not supported: %s", m.Reason)
	}
}

func TestLsAndRm(t *testing.T) {
	d, _ := setup(t)
	if code, _, errOut := run(RunPull, append([]string{"mlx-community/stories260k"}, d.flags()...)...); code != 0 {
		t.Fatal(errOut)
	}
	db, err := store.Open(d.data)
	if err != nil {
		t.Fatal(err)
	}
	llama := filepath.Join(testutil.Fixtures(t), "models", "llama")
	db.UpdateSettings(func(s *store.Settings) error { s.Library.ExtraFolders = []string{llama}; return nil })
	db.Close()
	_, out, _ := run(RunLs, d.flags()...)
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 3 || !strings.HasPrefix(rows[0], "MODEL") {
		t.Fatalf("ls table:\n%s", out)
	}
	if f := strings.Fields(rows[1]); f[0] != "mlx-community/stories260k" || !hasField(f, "llama") || f[len(f)-1] != "yes" {
		t.Errorf("stories row: %q", rows[1])
	}
	if !strings.HasPrefix(rows[2], llama) || !strings.Contains(rows[2], "no: no tokenizer.json") {
		t.Errorf("extra folder row: %q", rows[2])
	}
	code, out, errOut := run(RunRm, append([]string{"mlx-community/stories260k"}, d.flags()...)...)
	if code != 0 || !strings.Contains(out, "freed") {
		t.Fatalf("rm: %d %s %s", code, out, errOut)
	}
	if _, out, _ := run(RunLs, d.flags()...); strings.Contains(out, "stories260k") {
		t.Errorf("ls after rm:\n%s", out)
	}
}

func hasField(fields []string, want string) bool {
	for _, f := range fields {
		if f == want {
			return true
		}
	}
	return false
}

func TestPullRefusesWhileAppRuns(t *testing.T) {
	d, _ := setup(t)
	db, err := store.Open(d.data)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	code, _, errOut := run(RunPull, append([]string{"mlx-community/stories260k"}, d.flags()...)...)
	if code != 1 || !strings.Contains(errOut, "LMX app is running") {
		t.Errorf("pull with the app running: exit %d, %q", code, errOut)
	}
	if code, out, _ := run(RunLs, d.flags()...); code != 0 || !strings.HasPrefix(out, "MODEL") {
		t.Errorf("ls with the app running: exit %d\n%s", code, out)
	}
}

func TestPullErrorsAreExplained(t *testing.T) {
	d, _ := setup(t)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"mlx-community/missing"}, 1, "HF_TOKEN"},
		{[]string{"../etc"}, 1, "unsafe path"},
		{nil, 2, "usage: lmx pull"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := run(RunPull, append(tt.args, d.flags()...)...)
			if code != tt.code || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, errOut, tt.code, tt.want)
			}
		})
	}
}

func TestTerminalProgressRedrawsInPlace(t *testing.T) {
	var out bytes.Buffer
	b := &bar{w: &out, tty: true}
	b.update(hub.Progress{Repo: "r", DoneBytes: 5 << 20, TotalBytes: 10 << 20, BytesPerSec: 1 << 20, ETA: 5 * time.Second})
	b.update(hub.Progress{Repo: "r", DoneBytes: 10 << 20, TotalBytes: 10 << 20, ETA: 0})
	b.finish()
	got := out.String()
	for _, want := range []string{"\rr  [##########----------]  50%  5.0 MiB / 10.0 MiB  1.0 MiB/s  ETA 0:05", "\rr  [####################] 100%"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\n") {
		t.Errorf("bar line not ended")
	}
}

// TestPullJudgesTheArchitecture: "lmx pull" as main wires it (with the
// engine's architectures) says a model of another architecture is not
// supported, and the registry records it so; the same folder is supported
// when its architecture is in the list.
func TestPullJudgesTheArchitecture(t *testing.T) {
	d, _ := setup(t)
	args := append([]string{"mlx-community/stories260k"}, d.flags()...)
	code, out, errOut := run(Pull([]string{"qwen3"}), args...)
	if code != 0 {
		t.Fatalf("lmx pull exited %d: %s", code, errOut)
	}
	if !strings.Contains(out, "not supported") || !strings.Contains(out, "llama") {
		t.Errorf("pull of a llama model with only qwen3 supported did not say so:\n%s", out)
	}
	db, err := store.Open(d.data)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := db.Model("mlx-community/stories260k")
	db.Close()
	if err != nil || rec.Supported {
		t.Errorf("registry record %+v (%v): want unsupported", rec, err)
	}
	code, out, errOut = run(Pull([]string{"llama", "qwen3"}), args...)
	if code != 0 || strings.Contains(out, "not supported") {
		t.Errorf("pull with llama supported: exit %d, output:\n%s%s", code, out, errOut)
	}
}
