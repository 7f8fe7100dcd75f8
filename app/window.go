//go:build desktop

package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	goruntime "runtime"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/mac"
	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/app/tray"
)

// Bindings are the Go methods the window's JavaScript can call
// (window.go.app.Bindings.*). Everything else goes through the HTTP API, so
// the window and a browser behave the same.
type Bindings struct {
	app *App
	ctx context.Context // Wails' context, set at startup before any call
}

// OpenInBrowser opens the Dashboard in the default browser.
func (b *Bindings) OpenInBrowser() error {
	url := b.app.URL()
	if url == "" {
		return errors.New("the server is stopped: start it first")
	}
	runtime.BrowserOpenURL(b.ctx, url+"/")
	return nil
}

// RunWindow shows the app window until the user quits (or SIGINT/SIGTERM,
// which Wails handles), with the menu-bar icon run by trayCmd (normally
// "<exe> tray") in a child process. The window's requests reach the API
// in-process, so it keeps working while the network server is stopped. It
// must run on the main goroutine.
func (a *App) RunWindow(assets fs.FS, trayCmd *exec.Cmd) error {
	child := startTray(trayCmd)
	b := &Bindings{app: a}
	err := wails.Run(&options.App{
		Title:       "LMX",
		Width:       1100,
		Height:      760,
		MinWidth:    720,
		MinHeight:   520,
		AssetServer: &assetserver.Options{Assets: assets, Handler: a.LocalHandler()},
		// On macOS the menu-bar icon brings a closed window back; Linux
		// desktops often show no tray icons, so closing the window quits.
		HideWindowOnClose: child != nil && goruntime.GOOS == "darwin",
		OnStartup:         func(wctx context.Context) { a.windowStarted(wctx, b, child) },
		OnShutdown: func(context.Context) {
			if child != nil {
				_ = child.Close() // the child exits when its stdin closes
			}
		},
		Bind: []any{b},
		Mac:  &mac.Options{About: &mac.AboutInfo{Title: "LMX", Message: "Local models on MLX, served on localhost."}},
	})
	if err != nil {
		return fmt.Errorf("run window: %w", err)
	}
	return nil
}

// windowStarted wires the running window to status events and the tray.
func (a *App) windowStarted(wctx context.Context, b *Bindings, child *tray.Child) {
	b.ctx = wctx
	show := func() { runtime.WindowShow(wctx) }
	a.SetWindow(show)
	a.OnStatus(func(s api.Status) { runtime.EventsEmit(wctx, "status", s) })
	if child != nil {
		go a.ServeTray(child, WindowActions{
			Show: show,
			OpenChat: func() {
				runtime.WindowShow(wctx)
				runtime.EventsEmit(wctx, "navigate", "chat")
			},
			Quit: func() { runtime.Quit(wctx) },
		})
	}
}

// startTray starts the menu-bar child; without one (no tray support on this
// desktop) the app runs as a plain windowed app.
func startTray(cmd *exec.Cmd) *tray.Child {
	cmd.Stderr = os.Stderr
	child, err := tray.Start(cmd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lmx: no menu-bar icon: %v\n", err)
		return nil
	}
	return child
}
