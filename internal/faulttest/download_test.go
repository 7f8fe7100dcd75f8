package faulttest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/hub/hubtest"
)

// download is the part of GET /api/downloads the test reads.
type download struct {
	State     string `json:"state"`
	DoneBytes int64  `json:"done_bytes"`
	Error     string `json:"error"`
}

func downloads(t *testing.T, url string) []download {
	var body struct{ Downloads []download }
	mustCall(t, url, "GET", "/api/downloads", nil, &body)
	return body.Downloads
}

// TestKillDuringDownload pulls a model from a local fake Hub throttled so
// that the weights take seconds, kills lmx serve (kill -9) mid-file, and
// restarts it on the same data folder and model cache: the weights are
// never in the snapshot while partial, the download continues by itself
// (resuming from the partial file), and the file it finishes has the Hub's
// sha256 (the fixture's bytes); no partial file is left.
func TestKillDuringDownload(t *testing.T) {
	const repoID, weights = "mlx-community/stories260k", "model.safetensors"
	fixture := filepath.Join(testutil.Fixtures(t), "models", "stories260k")
	hub := hubtest.New(t)
	repo := hub.AddFolder(t, repoID, fixture)
	hub.SetFault(repo, weights, hubtest.Fault{BytesPerSec: 64 << 10}) // 1 MB: about 16 s
	in := newInstance(t, "HF_ENDPOINT="+hub.URL)
	srv := in.start()
	mustCall(t, srv.URL, "POST", "/api/models/pull", map[string]any{"repo": repoID}, nil)
	waitFor(t, time.Minute, "200 kB downloaded", func() bool {
		d := downloads(t, srv.URL)
		return len(d) == 1 && d[0].DoneBytes > 200<<10
	})
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	repoDir := filepath.Join(in.dir, "hub", "models--mlx-community--stories260k")
	snapshot := filepath.Join(repoDir, "snapshots", repo.Commit, weights)
	partials, _ := filepath.Glob(filepath.Join(repoDir, "blobs", "*.incomplete"))
	if len(partials) != 1 {
		t.Fatalf("after the kill: partial files %v, want one", partials)
	}
	st, _ := os.Stat(partials[0])
	if _, err := os.Stat(snapshot); !os.IsNotExist(err) {
		t.Fatalf("the weights are in the snapshot while partial (%v)", err)
	}
	t.Logf("killed with %d bytes of %s in %s", st.Size(), weights, filepath.Base(partials[0]))

	hub.SetFault(repo, weights, hubtest.Fault{}) // full speed after the restart
	srv = in.start()
	waitFor(t, time.Minute, "the download to finish after the restart", func() bool {
		d := downloads(t, srv.URL)
		if len(d) == 1 && (d[0].State == "failed" || d[0].State == "canceled") {
			t.Fatalf("download %s: %s", d[0].State, d[0].Error)
		}
		return len(d) == 1 && d[0].State == "done"
	})
	checkDownloaded(t, snapshot, filepath.Join(fixture, weights), repoDir)
	resumed := false
	for _, r := range hub.Ranges(weights) {
		resumed = resumed || (strings.HasPrefix(r, "bytes=") && !strings.HasPrefix(r, "bytes=0-"))
	}
	if !resumed {
		t.Errorf("the download restarted from zero instead of resuming the %d bytes it had (ranges %q)", st.Size(), hub.Ranges(weights))
	}
}

// checkDownloaded compares the snapshot's file with the original and
// requires no partial file left.
func checkDownloaded(t *testing.T, snapshot, original, repoDir string) {
	got, err := os.ReadFile(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(original)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := sha256.Sum256(got), sha256.Sum256(want); g != w {
		t.Fatalf("downloaded %s has sha256 %s, the Hub's is %s", snapshot, hex.EncodeToString(g[:]), hex.EncodeToString(w[:]))
	}
	if left, _ := filepath.Glob(filepath.Join(repoDir, "blobs", "*.incomplete")); len(left) > 0 {
		t.Errorf("partial files left after the download: %v", left)
	}
}
