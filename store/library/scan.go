package library

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lmx-app/lmx/internal/checkpoint"
)

// Source says where a library entry was found.
type Source string

// Sources of library entries.
const (
	SourceHubCache Source = "hub-cache"
	SourceFolder   Source = "folder"
)

// Quantization is config.json's MLX quantization; zero Bits: unquantized.
type Quantization struct {
	Bits      int    `json:"bits,omitempty"`
	GroupSize int    `json:"group_size,omitempty"`
	Mode      string `json:"mode,omitempty"`
}

// String renders e.g. "4-bit g64 affine", or "none".
func (q Quantization) String() string {
	if q.Bits == 0 {
		return "none"
	}
	return fmt.Sprintf("%d-bit g%d %s", q.Bits, q.GroupSize, q.Mode)
}

// Model is one model found in the library.
type Model struct {
	ID           string       `json:"id"`   // repo id, or folder path for plain folders
	Repo         string       `json:"repo"` // empty for plain folders
	Commit       string       `json:"commit,omitempty"`
	Snapshots    []string     `json:"snapshots,omitempty"`
	Path         string       `json:"path"` // the folder holding config.json
	Source       Source       `json:"source"`
	SizeBytes    int64        `json:"size_bytes"`
	Architecture string       `json:"architecture"`
	Params       int64        `json:"params"`
	Quant        Quantization `json:"quantization"`
	Supported    bool         `json:"supported"`
	Reason       string       `json:"reason,omitempty"` // why not supported
	ModifiedAt   time.Time    `json:"modified_at"`
}

// Library is the hub cache plus extra plain model folders. Every model is
// judged against Cache.Architectures, the model types the engine runs.
type Library struct {
	Cache   Cache
	Folders []string // each is a model folder, or holds model folders up to two levels down
}

// Scan lists every model of the library, hub cache first, each sorted by ID.
// Unreadable entries are listed as unsupported with the reason.
func (l Library) Scan() ([]Model, error) {
	models, err := l.Cache.Scan()
	if err != nil {
		return nil, err
	}
	for _, dir := range l.Folders {
		models = append(models, scanFolderTree(dir, 2, l.Cache.Architectures)...)
	}
	return models, nil
}

// Scan lists the model repos of the cache, one entry per repo, describing
// the snapshot refs/main points to (else the newest snapshot).
func (c Cache) Scan() ([]Model, error) {
	entries, err := os.ReadDir(c.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", c.Dir, err)
	}
	var out []Model
	for _, e := range entries {
		repo, ok := repoFromFolder(e.Name())
		if !ok || !e.IsDir() {
			continue
		}
		if m, ok := c.scanRepo(repo); ok {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// repoFromFolder turns "models--org--name" into "org/name".
func repoFromFolder(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, "models--")
	if !ok {
		return "", false
	}
	repo := strings.ReplaceAll(rest, "--", "/")
	return repo, ValidateRepoID(repo) == nil
}

// Find returns the cache entry for repo, or an error wrapping ErrNotInstalled.
func (c Cache) Find(repo string) (Model, error) {
	if err := ValidateRepoID(repo); err != nil {
		return Model{}, err
	}
	m, ok := c.scanRepo(repo)
	if !ok {
		return Model{}, fmt.Errorf("%s: %w", repo, ErrNotInstalled)
	}
	return m, nil
}

// scanRepo describes repo's main snapshot; false when it has none.
func (c Cache) scanRepo(repo string) (Model, bool) {
	snaps := c.snapshots(repo)
	if len(snaps) == 0 {
		return Model{}, false
	}
	commit, err := c.ReadRef(repo, "main")
	if err != nil || !slices.Contains(snaps, commit) {
		commit = c.newestSnapshot(repo, snaps)
	}
	m := c.Classify(c.SnapshotDir(repo, commit))
	m.ID, m.Repo, m.Commit, m.Snapshots, m.Source = repo, repo, commit, snaps, SourceHubCache
	return m, true
}

// snapshots lists the commit folders of repo.
func (c Cache) snapshots(repo string) []string {
	entries, _ := os.ReadDir(filepath.Join(c.RepoDir(repo), "snapshots"))
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// newestSnapshot picks the most recently modified snapshot folder.
func (c Cache) newestSnapshot(repo string, snaps []string) string {
	best, bestTime := snaps[0], time.Time{}
	for _, s := range snaps {
		if fi, err := os.Stat(c.SnapshotDir(repo, s)); err == nil && fi.ModTime().After(bestTime) {
			best, bestTime = s, fi.ModTime()
		}
	}
	return best
}

// scanFolderTree finds plain model folders (holding config.json) at dir or
// up to depth levels below it (LM Studio keeps models/org/name).
func scanFolderTree(dir string, depth int, architectures []string) []Model {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		m := Classify(dir, architectures...)
		m.ID, m.Source = dir, SourceFolder
		return []Model{m}
	}
	if depth == 0 {
		return nil
	}
	entries, _ := os.ReadDir(dir)
	var out []Model
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, scanFolderTree(filepath.Join(dir, e.Name()), depth-1, architectures)...)
		}
	}
	return out
}

// Classify reads a model folder with the reader the engine loads with
// (internal/checkpoint): config.json, generation_config.json, the
// quantization block, the shard index and every safetensors header. It
// gives the architecture, parameter count, quantization, size on disk and
// whether the engine can run it; Reason says why not. architectures are
// the model types the engine runs (arch.Supported(), passed down by the
// app and by lmx ls); when none are given the architecture is not judged
// and Supported means the folder is well formed.
func Classify(dir string, architectures ...string) Model {
	m := Model{Path: dir}
	m.SizeBytes, m.ModifiedAt = folderSize(dir)
	cfg, err := checkpoint.ReadConfig(dir)
	if err != nil {
		m.Reason = err.Error()
		return m
	}
	m.Architecture = cfg.ModelType
	if q := cfg.Quantization; q != nil {
		m.Quant = Quantization{Bits: q.Bits, GroupSize: q.GroupSize, Mode: q.Mode}
	}
	headers, err := checkpoint.WeightHeaders(dir)
	if err == nil {
		m.Params = countParams(headers, cfg.Quantization)
	}
	m.Reason = supportReason(dir, cfg, headers, err, architectures)
	m.Supported = m.Reason == ""
	return m
}

// Classify is Classify judged against the cache's architectures.
func (c Cache) Classify(dir string) Model {
	return Classify(dir, c.Architectures...)
}

// supportReason explains why a readable model cannot run, or returns "":
// the architecture, the weights, the quantized modules and the files the
// engine reads beside them.
func supportReason(dir string, cfg *checkpoint.Config, headers []*checkpoint.Header, weightsErr error, architectures []string) string {
	if len(architectures) > 0 && !slices.Contains(architectures, cfg.ModelType) {
		return fmt.Sprintf("architecture %q is not supported (supported: %s)", cfg.ModelType, strings.Join(architectures, ", "))
	}
	if weightsErr != nil {
		return weightsErr.Error()
	}
	if err := checkpoint.CheckQuantized(headers, cfg.Quantization); err != nil {
		return err.Error()
	}
	if _, err := checkpoint.ReadGenerationConfig(dir); err != nil {
		return err.Error()
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		return "no tokenizer.json"
	}
	return ""
}

// folderSize sums the sizes of the files under dir (following snapshot
// symlinks, counting each blob once) and returns the latest change time.
func folderSize(dir string) (int64, time.Time) {
	var total int64
	var latest time.Time
	seen := map[string]bool{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		real, err := filepath.EvalSymlinks(path)
		fi, serr := os.Stat(path)
		if err != nil || serr != nil || seen[real] {
			return nil
		}
		seen[real] = true
		total += fi.Size()
		if fi.ModTime().After(latest) {
			latest = fi.ModTime()
		}
		return nil
	})
	return total, latest
}
