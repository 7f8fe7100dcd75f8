package app

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// The window's native actions (its Wails bindings) run these commands: on
// macOS Finder through open(1), elsewhere the desktop's file manager through
// xdg-open.

// revealCommand is the command that shows path in the file manager: Finder
// selects it on macOS; xdg-open opens the folder that holds it elsewhere (a
// folder itself is opened).
func revealCommand(goos, path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reveal: %w", err)
	}
	if goos == "darwin" {
		return []string{"open", "-R", path}, nil
	}
	if !info.IsDir() {
		path = filepath.Dir(path)
	}
	return []string{"xdg-open", path}, nil
}

// openFolderCommand opens the folder dir in the file manager.
func openFolderCommand(goos, dir string) ([]string, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("open folder: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("open folder: %s is not a folder", dir)
	}
	if goos == "darwin" {
		return []string{"open", dir}, nil
	}
	return []string{"xdg-open", dir}, nil
}

// startDetached starts argv and reaps it in the background: the file
// manager outlives the call.
func startDetached(argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("%s is not installed", argv[0])
		}
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
