package store

import (
	"os"
	"path/filepath"
)

// defaultDataDir is ~/Library/Application Support/LMX on macOS.
func defaultDataDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, "Library", "Application Support", "LMX"), nil
}
