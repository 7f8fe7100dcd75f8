package store

import (
	"fmt"
	"os"
)

// DataDir returns where LMX keeps its database: $LMX_DATA_DIR when set, else
// the platform default (see defaultDataDir).
func DataDir() (string, error) {
	if dir := os.Getenv("LMX_DATA_DIR"); dir != "" {
		return dir, nil
	}
	dir, err := defaultDataDir()
	if err != nil {
		return "", fmt.Errorf("data dir: %w", err)
	}
	return dir, nil
}
