package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub/hubtest"
	"github.com/lmx-app/lmx/store/library"
)

// env is a fake Hub, a store and an empty cache wired to a Manager.
type env struct {
	hub   *hubtest.Hub
	db    *store.DB
	cache library.Cache
	mgr   *Manager
}

func newEnv(t *testing.T, token string) *env {
	t.Helper()
	e := &env{hub: hubtest.New(t), cache: library.Cache{Dir: t.TempDir()}}
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	opts := Options{Backoff: 10 * time.Millisecond, StallTimeout: 400 * time.Millisecond, ProgressEvery: 10 * time.Millisecond}
	e.mgr = NewManager(NewClient(e.hub.URL, token), e.cache, db, opts)
	t.Cleanup(e.mgr.Close)
	return e
}

func fixtureDir(t *testing.T, name string) string {
	return filepath.Join(testutil.Fixtures(t), "models", name)
}

// assertSnapshotMatches checks every served file is in the snapshot with
// the same bytes.
func assertSnapshotMatches(t *testing.T, e *env, repo *hubtest.Repo) {
	t.Helper()
	dir := e.cache.SnapshotDir(repo.ID, repo.Commit)
	for name, want := range repo.Files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if !MLXFiles(name) {
			if err == nil {
				t.Errorf("%s downloaded, but mlx-lm would skip it", name)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, err %v; want the %d served bytes", name, len(got), err, len(want))
		}
	}
}

func TestPullStoresVerifiedSnapshotWithoutLeakingToken(t *testing.T) {
	e := newEnv(t, "hf_secret")
	repo := e.hub.AddFolder(t, "mlx-community/stories260k", fixtureDir(t, "stories260k"))
	m, err := e.mgr.Pull(context.Background(), repo.ID, "")
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	assertSnapshotMatches(t, e, repo)
	if m.Commit != repo.Commit || m.Architecture != "llama" || !m.Supported {
		t.Errorf("installed model %+v", m)
	}
	if ref, _ := e.cache.ReadRef(repo.ID, "main"); ref != repo.Commit {
		t.Errorf("refs/main = %q, want %s", ref, repo.Commit)
	}
	auth := e.hub.CDNAuthorization()
	if len(auth) == 0 {
		t.Fatal("weights were not fetched through the CDN redirect")
	}
	for _, a := range auth {
		if a != "" {
			t.Errorf("CDN received Authorization %q", a)
		}
	}
	rec, err := e.db.Model(repo.ID)
	if err != nil || rec.Revision != repo.Commit || rec.Params != m.Params {
		t.Errorf("registry record %+v, %v", rec, err)
	}
	if p, _ := e.mgr.Progress(DownloadID(repo.ID, "main")); p.State != store.DownloadDone || p.DoneBytes != p.TotalBytes {
		t.Errorf("final progress %+v", p)
	}
}

func TestTransferFaults(t *testing.T) {
	const weights = "model.safetensors"
	tests := []struct {
		name       string
		fault      hubtest.Fault
		wantRanges int  // body requests of the weights
		resumed    bool // a later request continued with a Range
	}{
		{"connection dropped mid-file", hubtest.Fault{DropAfter: 300_000, DropTimes: 1}, 2, true},
		{"dropped twice", hubtest.Fault{DropAfter: 100_000, DropTimes: 2}, 3, true},
		{"500 then success", hubtest.Fault{FailFirst: 1}, 2, false},
		{"stalled body", hubtest.Fault{StallAfter: 200_000, StallTimes: 1}, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "")
			repo := e.hub.AddFolder(t, "mlx-community/llama-tiny", fixtureDir(t, "llama"))
			e.hub.SetFault(repo, weights, tt.fault)
			start := time.Now()
			if _, err := e.mgr.Pull(context.Background(), repo.ID, "main"); err != nil {
				t.Fatalf("pull: %v", err)
			}
			assertSnapshotMatches(t, e, repo)
			ranges := e.hub.Ranges(weights)
			if len(ranges) != tt.wantRanges {
				t.Errorf("weights requested %d times (%q), want %d", len(ranges), ranges, tt.wantRanges)
			}
			if last := ranges[len(ranges)-1]; tt.resumed != strings.HasPrefix(last, "bytes=") || last == "bytes=0-" {
				t.Errorf("last request Range %q, resumed=%v", last, tt.resumed)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("recovery took %v", took)
			}
		})
	}
}

func TestWrongSHA256IsRejected(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/llama-tiny", fixtureDir(t, "llama"))
	e.hub.SetFault(repo, "model.safetensors", hubtest.Fault{WrongSHA: true})
	_, err := e.mgr.Pull(context.Background(), repo.ID, "main")
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("pull: %v, want ErrChecksum", err)
	}
	weights := filepath.Join(e.cache.SnapshotDir(repo.ID, repo.Commit), "model.safetensors")
	if _, err := os.Lstat(weights); err == nil {
		t.Errorf("the rejected file was linked into the snapshot")
	}
	blobs, _ := os.ReadDir(filepath.Join(e.cache.RepoDir(repo.ID), "blobs"))
	for _, b := range blobs {
		if fi, _ := b.Info(); fi.Size() == int64(len(repo.Files["model.safetensors"])) {
			t.Errorf("rejected bytes kept as %s", b.Name())
		}
	}
	if d, _ := e.db.Download(DownloadID(repo.ID, "main")); d.State != store.DownloadFailed {
		t.Errorf("download state %s, want failed", d.State)
	}
}

func TestAccessErrors(t *testing.T) {
	tests := []struct {
		name    string
		token   string
		setup   func(*hubtest.Repo)
		repo    string
		want    error
		message string
	}{
		{"gated without token", "", func(r *hubtest.Repo) { r.Gated, r.Token = true, "hf_ok" }, "", ErrGated, "accept its license at https://huggingface.co/mlx-community/m"},
		{"gated with a token lacking access", "hf_other", func(r *hubtest.Repo) { r.Gated, r.Token = true, "hf_ok" }, "", ErrGated, "HF_TOKEN"},
		{"private without token", "", func(r *hubtest.Repo) { r.Private, r.Token = true, "hf_ok" }, "", ErrUnauthorized, "set HF_TOKEN"},
		{"missing repo with token", "hf_ok", func(*hubtest.Repo) {}, "mlx-community/nope", ErrNotFound, "not found"},
		{"gated with the right token", "hf_ok", func(r *hubtest.Repo) { r.Gated, r.Token = true, "hf_ok" }, "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.token)
			repo := e.hub.AddFolder(t, "mlx-community/m", fixtureDir(t, "llama"))
			tt.setup(repo)
			id := repo.ID
			if tt.repo != "" {
				id = tt.repo
			}
			_, err := e.mgr.Pull(context.Background(), id, "main")
			if tt.want == nil {
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("pull: %v; want %v mentioning %q", err, tt.want, tt.message)
			}
		})
	}
}

func TestUnsafeNamesFromServerAreRefused(t *testing.T) {
	tests := map[string]func(info map[string]any){
		"file ../":         func(i map[string]any) { sibling(i)["rfilename"] = "../../../evil.json" },
		"absolute file":    func(i map[string]any) { sibling(i)["rfilename"] = "/tmp/evil.json" },
		"backslash file":   func(i map[string]any) { sibling(i)["rfilename"] = `..\..\evil.json` },
		"repo id ../":      func(i map[string]any) { i["id"] = "../../evil" },
		"blob id ../":      func(i map[string]any) { sibling(i)["blobId"] = "../../../evil" },
		"commit with path": func(i map[string]any) { i["sha"] = "../../refs" },
	}
	for name, hook := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, "")
			repo := e.hub.AddFolder(t, "mlx-community/m", fixtureDir(t, "stories260k"))
			repo.InfoHook = hook
			_, err := e.mgr.Pull(context.Background(), repo.ID, "main")
			if !errors.Is(err, library.ErrUnsafePath) {
				t.Fatalf("pull: %v, want ErrUnsafePath", err)
			}
			if entries, _ := os.ReadDir(e.cache.Dir); len(entries) != 0 {
				t.Errorf("cache written for a refused repo: %v", entries)
			}
		})
	}
}

func TestBodyLongerThanPromisedIsCutAndRejected(t *testing.T) {
	e := newEnv(t, "")
	var mu sync.Mutex
	var seen []Progress
	record := func(p Progress) { mu.Lock(); seen = append(seen, p); mu.Unlock() }
	e.mgr = NewManager(NewClient(e.hub.URL, ""), e.cache, e.db, Options{ProgressEvery: time.Millisecond, OnProgress: record})
	t.Cleanup(e.mgr.Close)
	config := append([]byte(`{"model_type":"llama"}`), bytes.Repeat([]byte(" "), 256<<10)...)
	repo := e.hub.AddRepo("mlx-community/long", map[string][]byte{"config.json": config})
	repo.InfoHook = func(i map[string]any) { sibling(i)["size"] = 10 }
	if _, err := e.mgr.Pull(context.Background(), repo.ID, "main"); !errors.Is(err, ErrChecksum) {
		t.Fatalf("pull: %v, want ErrChecksum", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range seen {
		if p.DoneBytes < 0 || p.DoneBytes > p.TotalBytes {
			t.Errorf("progress %d of %d bytes (state %s): outside the promised size", p.DoneBytes, p.TotalBytes, p.State)
		}
	}
	if len(seen) == 0 {
		t.Error("no progress reported")
	}
}

// sibling returns the first (non-LFS) sibling of a model info JSON.
func sibling(info map[string]any) map[string]any {
	return info["siblings"].([]map[string]any)[0]
}

func TestSymlinkInDestinationIsRefused(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/m", fixtureDir(t, "stories260k"))
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(e.cache.RepoDir(repo.ID), "snapshots"), 0o755)
	os.Symlink(outside, e.cache.SnapshotDir(repo.ID, repo.Commit))
	if _, err := e.mgr.Pull(context.Background(), repo.ID, "main"); !errors.Is(err, library.ErrUnsafePath) {
		t.Fatalf("pull through a planted snapshot symlink: %v, want ErrUnsafePath", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("wrote through the symlink: %v", entries)
	}
}

func TestFilesWithEqualContentShareOneBlob(t *testing.T) {
	e := newEnv(t, "")
	src, _ := os.ReadFile(filepath.Join(fixtureDir(t, "stories260k"), "tokenizer.json"))
	files := map[string][]byte{"config.json": []byte(`{"model_type":"llama"}`)}
	for i := range 6 {
		files[fmt.Sprintf("copy%d.json", i)] = src // same blob id: downloads must not interleave
	}
	repo := e.hub.AddRepo("mlx-community/dupes", files)
	if _, err := e.mgr.Pull(context.Background(), repo.ID, "main"); err != nil {
		t.Fatalf("pull: %v", err)
	}
	assertSnapshotMatches(t, e, repo)
	blobs, _ := os.ReadDir(filepath.Join(e.cache.RepoDir(repo.ID), "blobs"))
	if len(blobs) != 2 {
		t.Errorf("%d blobs, want 2 (config and the shared copy)", len(blobs))
	}
}

// TestPullByCommitReturnsThatSnapshot: pulling a commit while refs/main names
// an older snapshot returns the commit just downloaded, not main's.
func TestPullByCommitReturnsThatSnapshot(t *testing.T) {
	e := newEnv(t, "")
	dir := fixtureDir(t, "stories260k")
	old := e.hub.AddFolder(t, "mlx-community/stories260k", dir)
	if _, err := e.mgr.Pull(context.Background(), old.ID, "main"); err != nil {
		t.Fatalf("pull main: %v", err)
	}
	files := map[string][]byte{}
	for name, b := range old.Files {
		files[name] = b
	}
	files["README.md"] = []byte("a later revision\n")
	next := e.hub.AddRepo(old.ID, files)
	if next.Commit == old.Commit {
		t.Fatal("the republished repo kept its commit")
	}
	m, err := e.mgr.Pull(context.Background(), next.ID, next.Commit)
	if err != nil {
		t.Fatalf("pull %s: %v", next.Commit, err)
	}
	if m.Commit != next.Commit || m.Path != e.cache.SnapshotDir(next.ID, next.Commit) {
		t.Errorf("Pull returned commit %s at %s; want %s", m.Commit, m.Path, next.Commit)
	}
	if ref, _ := e.cache.ReadRef(old.ID, "main"); ref != old.Commit {
		t.Errorf("refs/main = %q, want it left at %s", ref, old.Commit)
	}
}
