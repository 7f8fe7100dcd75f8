//go:build !darwin

package store

import (
	"os"
	"path/filepath"
)

// defaultDataDir is $XDG_DATA_HOME/lmx, else ~/.local/share/lmx.
func defaultDataDir() (string, error) {
	if xdg := os.Getenv("XDG_DATA_HOME"); xdg != "" {
		return filepath.Join(xdg, "lmx"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".local", "share", "lmx"), nil
}
