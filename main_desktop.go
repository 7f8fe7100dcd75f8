//go:build desktop

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// runApp opens the window (with the menu-bar child) and starts the server.
func runApp(ctx context.Context, args []string, _, stderr io.Writer) int {
	cfg, err := parseConfig("lmx", args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lmx: %v\n", err)
		return 2
	}
	a := newApp(cfg, stderr)
	if err := a.StartServer(); err != nil {
		// The window shows the failure and offers to retry.
		fmt.Fprintf(stderr, "lmx: %v\n", err)
	}
	go a.PublishEvery(ctx, statusInterval)
	exe, err := os.Executable()
	if err != nil {
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
