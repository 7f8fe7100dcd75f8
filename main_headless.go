//go:build !desktop

package main

import (
	"context"
	"fmt"
	"io"
)

// runApp explains that this build has no window: the desktop build needs
// cgo and GTK/WebKit (Linux) or Cocoa (macOS); headless builds only serve.
func runApp(_ context.Context, _ []string, _, stderr io.Writer) int {
	fmt.Fprintln(stderr, "lmx: this build has no window (build with -tags desktop,production); run `lmx serve`")
	return 2
}
