package library

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// SupportedArchitectures are the config.json model_type values the engine
// can run. The engine replaces this list with its registry's keys at start.
var SupportedArchitectures = []string{
	"llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "gemma3_text", "gemma3", "phi3",
}

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

// Library is the hub cache plus extra plain model folders.
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
		models = append(models, scanFolderTree(dir, 2)...)
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
	m := Classify(c.SnapshotDir(repo, commit))
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
func scanFolderTree(dir string, depth int) []Model {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		m := Classify(dir)
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
			out = append(out, scanFolderTree(filepath.Join(dir, e.Name()), depth-1)...)
		}
	}
	return out
}

// Classify reads a model folder: architecture, parameter count, quantization,
// size on disk and whether the engine supports it (Reason says why not).
func Classify(dir string) Model {
	m := Model{Path: dir}
	m.SizeBytes, m.ModifiedAt = folderSize(dir)
	cfg, err := readConfig(dir)
	if err != nil {
		m.Reason = err.Error()
		return m
	}
	m.Architecture = cfg.modelType
	m.Quant = Quantization{Bits: cfg.quant.Bits, GroupSize: cfg.quant.GroupSize, Mode: cfg.quant.Mode}
	if m.Quant.Bits == 0 {
		m.Quant.Mode = ""
	}
	m.Params, err = folderParams(dir, cfg.quant)
	m.Reason = supportReason(dir, cfg.modelType, err)
	m.Supported = m.Reason == ""
	return m
}

// supportReason explains why a readable model cannot run, or returns "".
func supportReason(dir, modelType string, weightsErr error) string {
	switch {
	case weightsErr != nil:
		return weightsErr.Error()
	case !slices.Contains(SupportedArchitectures, modelType):
		return fmt.Sprintf("architecture %q is not supported (supported: %s)", modelType, strings.Join(SupportedArchitectures, ", "))
	}
	if _, err := os.Stat(filepath.Join(dir, "tokenizer.json")); err != nil {
		return "no tokenizer.json"
	}
	return ""
}

// modelConfig is what the scanner needs from config.json.
type modelConfig struct {
	modelType string
	quant     quantConfig
	raw       map[string]json.RawMessage
}

// readConfig parses dir/config.json.
func readConfig(dir string) (modelConfig, error) {
	buf, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return modelConfig{}, fmt.Errorf("no config.json")
	}
	var cfg modelConfig
	if err := json.Unmarshal(buf, &cfg.raw); err != nil {
		return modelConfig{}, fmt.Errorf("config.json: %w", err)
	}
	if err := json.Unmarshal(cfg.raw["model_type"], &cfg.modelType); err != nil || cfg.modelType == "" {
		return modelConfig{}, fmt.Errorf("config.json has no model_type")
	}
	cfg.quant, err = parseQuantConfig(cfg.raw)
	if err != nil {
		return modelConfig{}, fmt.Errorf("config.json: %w", err)
	}
	return cfg, nil
}

// folderParams sums the parameters of dir's model*.safetensors (the files
// mlx-lm loads), checking that every shard the index names is present.
func folderParams(dir string, q quantConfig) (int64, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "model*.safetensors"))
	if len(files) == 0 {
		return 0, fmt.Errorf("no model*.safetensors weights")
	}
	if err := checkShards(dir); err != nil {
		return 0, err
	}
	tensors := map[string]tensorInfo{}
	for _, f := range files {
		ts, err := readSafetensorsHeader(f)
		if err != nil {
			return 0, err
		}
		for k, v := range ts {
			tensors[k] = v
		}
	}
	return countParams(tensors, q), nil
}

// checkShards fails when model.safetensors.index.json names a missing shard
// (an interrupted download).
func checkShards(dir string) error {
	buf, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
	if err != nil {
		return nil
	}
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(buf, &index); err != nil {
		return fmt.Errorf("model.safetensors.index.json: %w", err)
	}
	for _, shard := range index.WeightMap {
		if ValidateFileName(shard) != nil {
			return fmt.Errorf("index names unsafe shard %q", shard)
		}
		if _, err := os.Stat(filepath.Join(dir, shard)); err != nil {
			return fmt.Errorf("missing shard %s", shard)
		}
	}
	return nil
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
