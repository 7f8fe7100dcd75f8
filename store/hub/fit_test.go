package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/store/library"
)

func TestFitBeforeAndAfterDownload(t *testing.T) {
	e := newEnv(t, "")
	dir := fixtureDir(t, "stories260k")
	repo := e.hub.AddFolder(t, "mlx-community/stories260k", dir)
	weights, _ := os.Stat(filepath.Join(dir, "model.safetensors"))
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	kv, err := library.KVBytesPerToken(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(e.hub.URL, "")
	remote, err := c.FitRemote(context.Background(), repo.ID, "main", 512, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if remote.WeightsBytes != weights.Size() || remote.NeedBytes != weights.Size()+512*kv || remote.Verdict != library.Fits {
		t.Errorf("remote estimate %+v; weights are %d bytes", remote, weights.Size())
	}
	if tiny, _ := c.FitRemote(context.Background(), repo.ID, "main", 512, weights.Size()); tiny.Verdict != library.WontFit {
		t.Errorf("budget of the weights alone: %s", tiny.Verdict)
	}
	m, err := e.mgr.Pull(context.Background(), repo.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	local, err := library.FitFolder(m.Path, 512, 1<<30)
	if err != nil || local != remote {
		t.Errorf("installed estimate %+v (%v) differs from the remote one %+v", local, err, remote)
	}
}

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
