//go:build desktop

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/lmx-app/lmx/app"
	"github.com/lmx-app/lmx/store"
)

// runApp opens the window (with the menu-bar child) and starts the server.
func runApp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, specs, err := parseConfig("lmx", args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lmx: %v\n", err)
		return 2
	}
	a, db, err := openApp(cfg, stderr)
	if errors.Is(err, store.ErrAlreadyRunning) {
		return showRunning(ctx, cfg.DataDir, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "lmx: %v\n", err)
		return 1
	}
	defer db.Close()
	if err := a.StartServer(); err != nil {
		// The window shows the failure and offers to retry.
		fmt.Fprintf(stderr, "lmx: %v\n", err)
	}
	go loadModels(ctx, a, specs, stdout, stderr)
	go a.PublishEvery(ctx, statusInterval)
	exe, err := os.Executable()
	if err != nil {
		a.Close()
		fmt.Fprintf(stderr, "lmx: %v\n", err)
		return 1
	}
	err = a.RunWindow(cfg.Assets, exec.Command(exe, "tray"))
	a.Close()
	if err != nil {
		fmt.Fprintf(stderr, "lmx: %v\n", err)
		return 1
	}
	return 0
}

// showRunning brings the running instance's window forward instead of
// starting a second one.
func showRunning(ctx context.Context, dataDir string, stderr io.Writer) int {
	alreadyRunning(stderr, dataDir)
	if err := app.ShowRunning(ctx, dataDir); err != nil {
		fmt.Fprintf(stderr, "lmx: %v; use its menu-bar icon\n", err)
		return 1
	}
	return 0
}
