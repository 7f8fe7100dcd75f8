package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFileChangedUpstreamIsRejected(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/stories260k", fixtureDir(t, "stories260k"))
	repo.InfoHook = func(info map[string]any) {
		sibling(info)["blobId"] = strings.Repeat("0", 40) // model info promises other bytes than resolve serves
	}
	_, err := e.mgr.Pull(context.Background(), repo.ID, "main")
	if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "etag") {
		t.Fatalf("pull: %v, want an etag mismatch", err)
	}
	if _, err := os.Lstat(filepath.Join(e.cache.SnapshotDir(repo.ID, repo.Commit), "config.json")); err == nil {
		t.Errorf("the mismatching file was installed")
	}
}
