// Package library is the model library on disk: the Hugging Face cache
// layout (models--org--name/{blobs,snapshots,refs}) shared with mlx-lm and
// huggingface_hub, plus plain model folders the user adds. It scans and
// classifies models, installs downloaded blobs, deletes snapshots and
// estimates whether a model fits in memory.
package library

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// ErrUnsafePath is wrapped when a repo id, revision or file name could
// escape the library (.., absolute paths, backslashes) or a destination
// path goes through a symlink.
var ErrUnsafePath = errors.New("unsafe path")

// ErrNotInstalled is wrapped when a repo or snapshot is not in the library.
var ErrNotInstalled = errors.New("model not installed")

// HubCacheDir returns the Hugging Face hub cache as huggingface_hub resolves
// it: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
// ($XDG_CACHE_HOME replacing ~/.cache when set).
func HubCacheDir() (string, error) {
	if dir := os.Getenv("HF_HUB_CACHE"); dir != "" {
		return dir, nil
	}
	if home := os.Getenv("HF_HOME"); home != "" {
		return filepath.Join(home, "hub"), nil
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("hub cache dir: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "huggingface", "hub"), nil
}

// Cache is a Hugging Face hub cache directory.
type Cache struct {
	Dir string
	// Architectures are the config.json model_type values the engine runs
	// (the app passes arch.Supported()); scans judge each model against
	// them. Empty: the architecture is not judged.
	Architectures []string
}

var (
	repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$`)
	blobID   = regexp.MustCompile(`^[0-9a-f]{40}$|^[0-9a-f]{64}$`)
	commitID = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ValidateRepoID accepts "name" or "org/name" as the Hub does: letters,
// digits, "_", "-", "."; no "--" or ".." (they would alias cache folders).
func ValidateRepoID(repo string) error {
	parts := strings.Split(repo, "/")
	ok := len(parts) <= 2 && !strings.Contains(repo, "--") && !strings.Contains(repo, "..")
	for _, p := range parts {
		ok = ok && repoPart.MatchString(p) && !strings.HasSuffix(p, ".") && !strings.HasSuffix(p, "-")
	}
	if !ok {
		return fmt.Errorf("repo id %q: %w", repo, ErrUnsafePath)
	}
	return nil
}

// ValidateFileName accepts a relative slash-separated file name inside a
// repo and refuses anything that could leave the snapshot folder.
func ValidateFileName(name string) error {
	bad := name == "" || len(name) > 1024 || strings.ContainsAny(name, "\\\x00:") ||
		strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/")
	for _, part := range strings.Split(name, "/") {
		bad = bad || part == "" || part == "." || part == ".."
	}
	if bad {
		return fmt.Errorf("file name %q: %w", name, ErrUnsafePath)
	}
	return nil
}

// ValidateRevision accepts a branch, tag or "refs/pr/N" name, or a commit.
func ValidateRevision(rev string) error {
	if err := ValidateFileName(rev); err != nil {
		return fmt.Errorf("revision %q: %w", rev, ErrUnsafePath)
	}
	return nil
}

// ValidateCommit accepts a 40-hex commit hash.
func ValidateCommit(commit string) error {
	if !commitID.MatchString(commit) {
		return fmt.Errorf("commit %q: %w", commit, ErrUnsafePath)
	}
	return nil
}

// ValidateBlobID accepts a git blob id (40 hex) or an LFS sha256 (64 hex).
func ValidateBlobID(id string) error {
	if !blobID.MatchString(id) {
		return fmt.Errorf("blob id %q: %w", id, ErrUnsafePath)
	}
	return nil
}

// RepoFolderName is the cache folder of a model repo: "models--org--name".
func RepoFolderName(repo string) string {
	return "models--" + strings.ReplaceAll(repo, "/", "--")
}

// RepoDir is the cache folder of repo.
func (c Cache) RepoDir(repo string) string {
	return filepath.Join(c.Dir, RepoFolderName(repo))
}

// BlobPath is where the blob id of repo lives.
func (c Cache) BlobPath(repo, id string) string {
	return filepath.Join(c.RepoDir(repo), "blobs", id)
}

// IncompletePath is where a blob is written while it downloads.
func (c Cache) IncompletePath(repo, id string) string {
	return c.BlobPath(repo, id) + ".incomplete"
}

// SnapshotDir is the folder of one commit of repo.
func (c Cache) SnapshotDir(repo, commit string) string {
	return filepath.Join(c.RepoDir(repo), "snapshots", commit)
}

// ReadRef returns the commit a ref (e.g. "main") of repo points to.
func (c Cache) ReadRef(repo, ref string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(c.RepoDir(repo), "refs", filepath.FromSlash(ref)))
	if err != nil {
		return "", fmt.Errorf("read ref %s of %s: %w", ref, repo, err)
	}
	commit := strings.TrimSpace(string(raw))
	if err := ValidateCommit(commit); err != nil {
		return "", fmt.Errorf("ref %s of %s: %w", ref, repo, err)
	}
	return commit, nil
}
