package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/library"
)

// runHF runs testdata/hf_compat.py with huggingface_hub pointed at endpoint
// and decodes its JSON output into out.
func runHF(t *testing.T, endpoint string, out any, args ...string) {
	t.Helper()
	py := testutil.Python(t)
	if py == "" {
		if os.Getenv("LMX_REQUIRE_PY") == "1" {
			t.Fatal("LMX_REQUIRE_PY=1 but there is no .venv (or LMX_PYTHON) with huggingface-hub")
		}
		t.Skip("no project venv (.venv or LMX_PYTHON) with huggingface-hub==2.4.0")
	}
	cmd := exec.Command(py, append([]string{"testdata/hf_compat.py"}, args...)...)
	cmd.Env = append(os.Environ(), "HF_ENDPOINT="+endpoint, "HF_HOME="+t.TempDir(), "HF_TOKEN=",
		"HF_HUB_DISABLE_TELEMETRY=1", "HF_HUB_DISABLE_PROGRESS_BARS=1", "HF_HUB_OFFLINE=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("huggingface_hub %v: %v\n%s", args, err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("decode %q: %v\n%s", stdout, err, stderr.String())
	}
}

func TestHuggingFaceHubReadsLMXLibrary(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/stories260k", fixtureDir(t, "stories260k"))
	if _, err := e.mgr.Pull(context.Background(), repo.ID, "main"); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Warnings []string
		Repos    []struct {
			RepoID    string `json:"repo_id"`
			Revisions []struct {
				CommitHash string `json:"commit_hash"`
				Refs       []string
				Files      []string
			}
		}
		OfflineSnapshot string `json:"offline_snapshot"`
	}
	runHF(t, e.hub.URL, &got, "scan", e.cache.Dir, repo.ID)
	if len(got.Warnings) != 0 || len(got.Repos) != 1 || len(got.Repos[0].Revisions) != 1 {
		t.Fatalf("scan_cache_dir: %+v", got)
	}
	rev := got.Repos[0].Revisions[0]
	var want []string
	for name := range repo.Files {
		if MLXFiles(name) {
			want = append(want, name)
		}
	}
	sort.Strings(want)
	if got.Repos[0].RepoID != repo.ID || rev.CommitHash != repo.Commit || !slices.Equal(rev.Refs, []string{"main"}) || !slices.Equal(rev.Files, want) {
		t.Errorf("scan_cache_dir sees %+v, want %s@%s main with %v", got.Repos[0], repo.ID, repo.Commit, want)
	}
	if got.OfflineSnapshot != e.cache.SnapshotDir(repo.ID, repo.Commit) {
		t.Errorf("offline snapshot_download resolves %s, want %s", got.OfflineSnapshot, e.cache.SnapshotDir(repo.ID, repo.Commit))
	}
}

func TestLMXListsHuggingFaceHubDownload(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/stories260k", fixtureDir(t, "stories260k"))
	cache := library.Cache{Dir: t.TempDir()}
	var got struct{ Snapshot string }
	runHF(t, e.hub.URL, &got, "download", cache.Dir, repo.ID)
	if got.Snapshot != cache.SnapshotDir(repo.ID, repo.Commit) {
		t.Errorf("huggingface_hub stored the snapshot at %s, LMX expects %s", got.Snapshot, cache.SnapshotDir(repo.ID, repo.Commit))
	}
	models, err := cache.Scan()
	if err != nil || len(models) != 1 {
		t.Fatalf("LMX scan of a huggingface_hub cache: %+v %v", models, err)
	}
	m := models[0]
	if m.ID != repo.ID || m.Commit != repo.Commit || m.Architecture != "llama" || !m.Supported {
		t.Errorf("listed %+v", m)
	}
	e.cache = cache
	assertSnapshotMatches(t, e, repo)
	assertSameBlobNames(t, e, cache, repo.ID)
}

// assertSameBlobNames checks huggingface_hub named its blobs as LMX does
// (so either can reuse the other's files).
func assertSameBlobNames(t *testing.T, e *env, cache library.Cache, repo string) {
	t.Helper()
	info, err := NewClient(e.hub.URL, "").ModelInfo(context.Background(), repo, "main")
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, f := range info.Files {
		if MLXFiles(f.Name) {
			want = append(want, f.BlobID)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(cache.RepoDir(repo), "blobs"))
	for _, b := range entries {
		got = append(got, b.Name())
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("huggingface_hub blobs %v, LMX names them %v", got, want)
	}
}
