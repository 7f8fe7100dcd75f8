//go:build !desktop

package tray

import (
	"errors"
	"io"
)

// ErrNoDesktop is returned by Run in builds without the desktop tag, which
// have no menu-bar support (and need no cgo or GTK).
var ErrNoDesktop = errors.New("this build has no menu-bar icon (build with -tags desktop)")

// Run fails with ErrNoDesktop: headless builds cannot show a menu-bar icon.
func Run(io.Reader, io.Writer) error {
	return ErrNoDesktop
}
