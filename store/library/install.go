package library

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// PrepareBlobDir creates repo's blobs folder, refusing symlinks on the way,
// and returns the path of the blob's incomplete file.
func (c Cache) PrepareBlobDir(repo, id string) (string, error) {
	if err := c.validate(repo, id); err != nil {
		return "", err
	}
	if err := c.mkdirNoSymlinks(repo, "blobs"); err != nil {
		return "", err
	}
	return c.IncompletePath(repo, id), nil
}

// InstallBlob moves a verified incomplete file into blobs/ under its id.
func (c Cache) InstallBlob(repo, id string) error {
	if err := c.validate(repo, id); err != nil {
		return err
	}
	if err := os.Rename(c.IncompletePath(repo, id), c.BlobPath(repo, id)); err != nil {
		return fmt.Errorf("install blob %s: %w", id, err)
	}
	return nil
}

// HasBlob reports whether the complete blob id of repo is present.
func (c Cache) HasBlob(repo, id string) bool {
	fi, err := os.Lstat(c.BlobPath(repo, id))
	return err == nil && fi.Mode().IsRegular()
}

// LinkSnapshot makes snapshots/<commit>/<name> a relative symlink to
// blobs/<id>, as huggingface_hub does, replacing an older link.
func (c Cache) LinkSnapshot(repo, commit, name, id string) error {
	if err := c.validate(repo, id); err != nil {
		return err
	}
	if err := errors.Join(ValidateCommit(commit), ValidateFileName(name)); err != nil {
		return err
	}
	parts := append([]string{"snapshots", commit}, strings.Split(name, "/")...)
	if err := c.mkdirNoSymlinks(repo, parts[:len(parts)-1]...); err != nil {
		return err
	}
	link := filepath.Join(c.SnapshotDir(repo, commit), filepath.FromSlash(name))
	if err := removeOldLink(link); err != nil {
		return err
	}
	target := strings.Repeat("../", len(parts)-1) + "blobs/" + id
	if err := os.Symlink(filepath.FromSlash(target), link); err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	return nil
}

// WriteRef points refs/<ref> of repo at commit.
func (c Cache) WriteRef(repo, ref, commit string) error {
	if err := errors.Join(ValidateRepoID(repo), ValidateRevision(ref), ValidateCommit(commit)); err != nil {
		return err
	}
	parts := append([]string{"refs"}, strings.Split(ref, "/")...)
	if err := c.mkdirNoSymlinks(repo, parts[:len(parts)-1]...); err != nil {
		return err
	}
	path := filepath.Join(c.RepoDir(repo), filepath.Join(parts...))
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("ref %s is not a regular file: %w", ref, ErrUnsafePath)
	}
	if err := os.WriteFile(path, []byte(commit), 0o644); err != nil {
		return fmt.Errorf("write ref %s: %w", ref, err)
	}
	return nil
}

// validate checks the repo id and blob id used to build a path.
func (c Cache) validate(repo, id string) error {
	return errors.Join(ValidateRepoID(repo), ValidateBlobID(id))
}

// mkdirNoSymlinks creates RepoDir(repo)/parts... one level at a time and
// fails with ErrUnsafePath if any existing level is a symlink or not a
// folder, so a planted link cannot redirect writes outside the cache.
func (c Cache) mkdirNoSymlinks(repo string, parts ...string) error {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("create cache dir: %w", err)
	}
	dir := c.Dir
	for _, p := range append([]string{RepoFolderName(repo)}, parts...) {
		dir = filepath.Join(dir, p)
		fi, err := os.Lstat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create %s: %w", dir, err)
			}
		case err != nil:
			return fmt.Errorf("stat %s: %w", dir, err)
		case fi.Mode()&fs.ModeSymlink != 0 || !fi.IsDir():
			return fmt.Errorf("%s is a symlink or a file: %w", dir, ErrUnsafePath)
		}
	}
	return nil
}

// removeOldLink deletes an existing symlink or file at path (a re-download
// relinks), but refuses to delete a folder.
func removeOldLink(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a folder: %w", path, ErrUnsafePath)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}
