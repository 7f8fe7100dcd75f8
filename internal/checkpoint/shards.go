package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrMissingShard marks a weight shard named by the index that is not on disk.
var ErrMissingShard = errors.New("missing weight shard")

// ErrNoWeights marks a model folder without any model*.safetensors file.
var ErrNoWeights = errors.New("no safetensors weights")

// indexFile is the shard index transformers writes for sharded checkpoints.
const indexFile = "model.safetensors.index.json"

// WeightHeaders finds the weight files of a model folder (from the shard
// index when there is one, else model*.safetensors like mlx-lm) and returns
// their validated headers. A shard the index names but the folder lacks, or a
// tensor the index places in a shard that does not hold it, is an error.
func WeightHeaders(dir string) ([]*Header, error) {
	files, index, err := weightFiles(dir)
	if err != nil {
		return nil, err
	}
	headers := make([]*Header, 0, len(files))
	byFile := map[string]*Header{}
	for _, f := range files {
		h, err := ReadHeader(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		headers = append(headers, h)
		byFile[f] = h
	}
	return headers, checkIndex(dir, index, byFile)
}

// weightFiles lists the weight files and returns the index's weight map.
func weightFiles(dir string) ([]string, map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, indexFile))
	if errors.Is(err, fs.ErrNotExist) {
		files, err := globWeights(dir)
		return files, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read shard index: %w", err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, nil, fmt.Errorf("%s: %w: %v", filepath.Join(dir, indexFile), ErrInvalidConfig, err)
	}
	files := uniqueValues(idx.WeightMap)
	for _, f := range files {
		if !safeShardName(f) {
			return nil, nil, fmt.Errorf("%s: %w: unsafe shard name %q", filepath.Join(dir, indexFile), ErrInvalidConfig, f)
		}
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return nil, nil, fmt.Errorf("%w: %s (named by %s)", ErrMissingShard, filepath.Join(dir, f), indexFile)
		}
	}
	return files, idx.WeightMap, nil
}

// safeShardName accepts a file name inside the folder: relative, no ".."
// or empty parts, no backslash, colon or NUL (a hostile index must not make
// the reader open files elsewhere).
func safeShardName(name string) bool {
	if name == "" || len(name) > 1024 || strings.ContainsAny(name, "\\\x00:") || !filepath.IsLocal(name) {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return true
}

// globWeights lists model*.safetensors in dir.
func globWeights(dir string) ([]string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "model*.safetensors"))
	if err != nil {
		return nil, fmt.Errorf("list weights: %w", err)
	}
	if len(matches) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoWeights, dir)
	}
	files := make([]string, len(matches))
	for i, m := range matches {
		files[i] = filepath.Base(m)
	}
	sort.Strings(files)
	return files, nil
}

// checkIndex verifies that every tensor of the index is in its shard.
func checkIndex(dir string, index map[string]string, byFile map[string]*Header) error {
	for _, name := range sortedKeys(index) {
		h := byFile[index[name]]
		if _, ok := h.Tensors[name]; !ok {
			return fmt.Errorf("%w: tensor %q is not in %s as %s says", ErrMissingShard, name, filepath.Join(dir, index[name]), indexFile)
		}
	}
	return nil
}

// uniqueValues returns the distinct values of m, sorted.
func uniqueValues(m map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range m {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}
