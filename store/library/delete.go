package library

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DeleteSnapshot removes snapshots/<commit> of repo, the refs pointing to
// it, and only the blobs no remaining snapshot links to. When no snapshot
// remains the whole repo folder goes. It returns the bytes freed.
func (c Cache) DeleteSnapshot(repo, commit string) (int64, error) {
	if err := ValidateRepoID(repo); err != nil {
		return 0, err
	}
	if err := ValidateCommit(commit); err != nil {
		return 0, err
	}
	if _, err := os.Lstat(c.SnapshotDir(repo, commit)); err != nil {
		return 0, fmt.Errorf("%s@%s: %w", repo, commit, ErrNotInstalled)
	}
	if err := os.RemoveAll(c.SnapshotDir(repo, commit)); err != nil {
		return 0, fmt.Errorf("delete snapshot: %w", err)
	}
	if err := c.dropRefsTo(repo, commit); err != nil {
		return 0, err
	}
	if len(c.snapshots(repo)) == 0 {
		return c.DeleteRepo(repo)
	}
	return c.pruneBlobs(repo)
}

// DeleteRepo removes repo's folder (every snapshot and blob) and returns
// the bytes freed.
func (c Cache) DeleteRepo(repo string) (int64, error) {
	if err := ValidateRepoID(repo); err != nil {
		return 0, err
	}
	dir := c.RepoDir(repo)
	if _, err := os.Lstat(dir); err != nil {
		return 0, fmt.Errorf("%s: %w", repo, ErrNotInstalled)
	}
	freed := blobBytes(filepath.Join(dir, "blobs"), func(string) bool { return true })
	if err := os.RemoveAll(dir); err != nil {
		return 0, fmt.Errorf("delete %s: %w", repo, err)
	}
	return freed, nil
}

// dropRefsTo deletes every ref file of repo that names commit.
func (c Cache) dropRefsTo(repo, commit string) error {
	refs := filepath.Join(c.RepoDir(repo), "refs")
	return filepath.WalkDir(refs, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		raw, _ := os.ReadFile(path)
		if strings.TrimSpace(string(raw)) != commit {
			return nil
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("delete ref: %w", err)
		}
		return nil
	})
}

// pruneBlobs deletes blobs of repo that no snapshot links to, and returns
// the bytes freed. Incomplete downloads are kept for resume.
func (c Cache) pruneBlobs(repo string) (int64, error) {
	used := map[string]bool{}
	snaps := filepath.Join(c.RepoDir(repo), "snapshots")
	filepath.WalkDir(snaps, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			if target, err := os.Readlink(path); err == nil {
				used[filepath.Base(target)] = true
			}
		}
		return nil
	})
	blobs := filepath.Join(c.RepoDir(repo), "blobs")
	unused := func(name string) bool { return !used[name] && !strings.HasSuffix(name, ".incomplete") }
	freed := blobBytes(blobs, unused)
	entries, _ := os.ReadDir(blobs)
	for _, e := range entries {
		if unused(e.Name()) {
			if err := os.Remove(filepath.Join(blobs, e.Name())); err != nil {
				return 0, fmt.Errorf("delete blob: %w", err)
			}
		}
	}
	return freed, nil
}

// blobBytes sums the sizes of the files in dir whose names pass keep.
func blobBytes(dir string, keep func(string) bool) int64 {
	entries, _ := os.ReadDir(dir)
	var total int64
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && keep(e.Name()) {
			total += fi.Size()
		}
	}
	return total
}
