package gguf

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// IsGGUF reports whether path names a GGUF file (by its extension), which
// the commands and the app convert before loading.
func IsGGUF(path string) bool {
	return strings.EqualFold(filepath.Ext(path), ".gguf")
}

// ImportVersion is part of an import's cache key: bump it whenever Import
// writes different files for the same GGUF, so folders imported by an
// older LMX are imported anew.
const ImportVersion = 3

// Cached returns the MLX model folder for the GGUF file at path inside
// cacheDir, importing it the first time: cacheDir/<sha256 of the
// file>-v<ImportVersion>/<file name without .gguf>. The content hash is the
// key, so a renamed copy reuses the import and a changed file is imported
// anew. A failed import leaves nothing behind.
func Cached(ctx context.Context, path, cacheDir string) (string, error) {
	sum, err := fileSHA256(path)
	if err != nil {
		return "", err
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	keyDir := filepath.Join(cacheDir, fmt.Sprintf("%s-v%d", sum, ImportVersion))
	dir := filepath.Join(keyDir, name)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return "", fmt.Errorf("import %s: %w", path, err)
	}
	if err := Import(ctx, path, dir, Options{}); err != nil {
		// Another process may have finished the same import meanwhile.
		if _, serr := os.Stat(filepath.Join(dir, "config.json")); serr == nil {
			return dir, nil
		}
		_ = os.Remove(keyDir) // only when empty
		return "", err
	}
	return dir, nil
}

// fileSHA256 hashes a file's content.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("import %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("import %s: read: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
