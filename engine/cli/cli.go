// Package cli implements the engine's subcommands of the lmx binary:
// "lmx generate", "lmx convert" and "lmx bench". Each Run function parses its
// own flags (flags may follow the arguments) and returns the process exit
// code: 0 on success, 1 on failure, 2 on a usage error.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lmx-app/lmx/engine/gguf"
	"github.com/lmx-app/lmx/metal"
)

// usageError returns the exit code of a flag error: 0 for -h, else 2.
func usageError(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// fail prints "lmx CMD: err" and returns exit code 1.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "lmx %s: %v\n", cmd, err)
	return 1
}

// isSet reports whether the flag name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// mib formats bytes as MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// loadMLX opens the MLX runtime (idempotent); the error names where it looked.
func loadMLX() error {
	if err := metal.Load(""); err != nil {
		return fmt.Errorf("mlx runtime: %w", err)
	}
	return nil
}

// GGUFCacheDir returns where imported GGUF files' model folders are kept
// (the data dir's gguf folder, set by main so the app and the commands share
// one import); nil keeps them in the system's temporary folder.
var GGUFCacheDir func() (string, error)

// modelDir returns the model folder for a --model flag: the folder itself,
// or the imported folder of a GGUF file (converted on first use).
func modelDir(ctx context.Context, path string) (string, error) {
	if !gguf.IsGGUF(path) {
		return path, nil
	}
	cache := filepath.Join(os.TempDir(), "lmx-gguf")
	if GGUFCacheDir != nil {
		dir, err := GGUFCacheDir()
		if err != nil {
			return "", err
		}
		cache = dir
	}
	return gguf.Cached(ctx, path, cache)
}
