// Package hubtest is a fake Hugging Face Hub for tests: a Hub server that
// speaks the real API shapes (search with Link pagination, model info with
// blobs, tree, resolve with X-Repo-Commit / X-Linked-Etag / X-Linked-Size
// and redirects) plus a separate "CDN" server for LFS files, both with
// Range support and injectable faults. huggingface_hub's snapshot_download
// works against it.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hub is a running fake Hub with its CDN.
type Hub struct {
	URL    string // the endpoint (HF_ENDPOINT)
	CDNURL string

	mu      sync.Mutex
	repos   map[string]*Repo
	cdnAuth []string            // Authorization headers the CDN received
	ranges  map[string][]string // Range header of each body request, per file name
}

// Repo is one model repo of the fake Hub. Change fields before requests.
type Repo struct {
	ID        string
	Commit    string
	Files     map[string][]byte
	Downloads int64
	Gated     bool   // needs Token and an accepted license
	Private   bool   // needs Token; looks like a missing repo without it
	Token     string // accepted bearer token for Gated / Private
	// InfoHook may rewrite the model info JSON (e.g. to plant an unsafe
	// file name) before it is sent.
	InfoHook func(info map[string]any)
	faults   map[string]*Fault
}

// Fault injects failures into the body requests of one file. Counters
// decrease as faults fire; a fault fires on successive requests.
type Fault struct {
	FailFirst   int   // answer this many requests with 500
	DropAfter   int64 // abort the connection after sending this many bytes of a response...
	DropTimes   int   // ...this many times
	StallAfter  int64 // stop sending (keep the connection open) after this many bytes...
	StallTimes  int   // ...this many times
	BytesPerSec int   // throttle every response of the file; 0 unlimited
	WrongSHA    bool  // advertise a wrong LFS sha256 for the file
}

// New starts a fake Hub and its CDN, closed when t ends.
func New(t testing.TB) *Hub {
	h := &Hub{repos: map[string]*Repo{}, ranges: map[string][]string{}}
	hub := httptest.NewServer(h.hubMux())
	cdn := httptest.NewServer(http.HandlerFunc(h.serveCDN))
	t.Cleanup(func() { hub.CloseClientConnections(); cdn.CloseClientConnections(); hub.Close(); cdn.Close() })
	h.URL, h.CDNURL = hub.URL, cdn.URL
	return h
}

// AddRepo publishes files as repo id at a commit derived from the content.
func (h *Hub) AddRepo(id string, files map[string][]byte) *Repo {
	sum := sha1.New()
	names := sortedNames(files)
	for _, n := range names {
		fmt.Fprintf(sum, "%s\x00%x\x00", n, sha256.Sum256(files[n]))
	}
	fmt.Fprint(sum, id)
	r := &Repo{ID: id, Commit: hex.EncodeToString(sum.Sum(nil)), Files: files, faults: map[string]*Fault{}}
	h.mu.Lock()
	h.repos[id] = r
	h.mu.Unlock()
	return r
}

// AddFolder publishes every file of a folder (e.g. a fixture model).
func (h *Hub) AddFolder(t testing.TB, id, dir string) *Repo {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("hubtest: %v", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatalf("hubtest: %v", err)
			}
			files[e.Name()] = b
		}
	}
	return h.AddRepo(id, files)
}

// SetFault replaces the faults of file name of repo r; safe while serving.
func (h *Hub) SetFault(r *Repo, name string, f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r.faults[name] = &f
}

// CDNAuthorization returns the Authorization headers the CDN received
// (empty strings for requests without one).
func (h *Hub) CDNAuthorization() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.cdnAuth...)
}

// Ranges returns the Range header ("" for none) of every body request
// file name received, in order.
func (h *Hub) Ranges(name string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ranges[name]...)
}

// IsLFS reports whether the fake Hub stores name in LFS (weights), as
// the real Hub's .gitattributes does for *.safetensors.
func IsLFS(name string) bool { return strings.HasSuffix(name, ".safetensors") }

// SHA256 is the hex sha256 of b (the LFS oid).
func SHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// GitBlobID is the git blob id of b (the ETag of non-LFS files).
func GitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// blobID is the cache name of a file: sha256 for LFS, git blob id else.
func blobID(name string, b []byte) string {
	if IsLFS(name) {
		return SHA256(b)
	}
	return GitBlobID(b)
}

// lookup finds a repo by id.
func (h *Hub) lookup(id string) *Repo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.repos[id]
}

// byBlob finds the repo and file whose LFS oid is sha.
func (h *Hub) byBlob(sha string) (*Repo, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.repos {
		for n, b := range r.Files {
			if IsLFS(n) && SHA256(b) == sha {
				return r, n
			}
		}
	}
	return nil, ""
}

// sortedNames lists the keys of files in order.
func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// lastModified is a fixed date for the JSON shapes.
var lastModified = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05.000Z")
