package tray

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// ErrNoClipboard means no clipboard tool was found; the child then asks the
// parent (CopyURL), which copies through the window's toolkit.
var ErrNoClipboard = errors.New("no clipboard tool (pbcopy, wl-copy, xclip or xsel)")

// clipboardTools are the commands that copy their stdin, in order of
// preference for goos; wl-copy only under Wayland, the X ones only with a
// DISPLAY.
func clipboardTools(goos string, getenv func(string) string) [][]string {
	if goos == "darwin" {
		return [][]string{{"pbcopy"}}
	}
	var tools [][]string
	if getenv("WAYLAND_DISPLAY") != "" {
		tools = append(tools, []string{"wl-copy"})
	}
	if getenv("DISPLAY") != "" {
		tools = append(tools, []string{"xclip", "-selection", "clipboard"}, []string{"xsel", "--clipboard", "--input"})
	}
	return tools
}

// CopyText puts text on the clipboard with the first clipboard tool found.
func CopyText(text string) error {
	for _, tool := range clipboardTools(runtime.GOOS, os.Getenv) {
		path, err := exec.LookPath(tool[0])
		if err != nil {
			continue
		}
		cmd := exec.Command(path, tool[1:]...)
		cmd.Stdin = strings.NewReader(text)
		// xclip and xsel fork a process that keeps serving the selection:
		// it must inherit no pipe that Wait would wait on, so its output
		// goes straight to our stderr.
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s: %w", tool[0], err)
		}
		return nil
	}
	return ErrNoClipboard
}
