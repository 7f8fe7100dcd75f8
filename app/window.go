//go:build desktop

package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	goruntime "runtime"
	"sync"
	"time"

	"github.com/wailsapp/wails/v2"
	"github.com/wailsapp/wails/v2/pkg/menu"
	"github.com/wailsapp/wails/v2/pkg/options"
	"github.com/wailsapp/wails/v2/pkg/options/assetserver"
	"github.com/wailsapp/wails/v2/pkg/options/linux"
	"github.com/wailsapp/wails/v2/pkg/options/mac"
	"github.com/wailsapp/wails/v2/pkg/runtime"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/app/tray"
	"github.com/lmx-app/lmx/store"
)

// The window's default and smallest sizes, in points.
const (
	windowWidth, windowHeight       = 1100, 760
	windowMinWidth, windowMinHeight = 720, 520
)

// windowSizeEvery is how often the window's size is read to be remembered
// (Wails has no resize event; a read is cheap).
const windowSizeEvery = time.Second

// NavigateEvent is the Wails event that tells the page to show a route: the
// frontend sets location.hash to "#/" + route.
const NavigateEvent = "navigate"

// RouteNewChat is the Chat page with a new conversation.
const RouteNewChat = "chat/new"

// Bindings are the Go methods the window's JavaScript can call
// (window.go.app.Bindings.*): only what needs the native side. Everything
// else goes through the HTTP API, so the window and a browser behave the
// same.
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

// RevealInFinder shows path (a model's folder or file) in Finder, selected;
// on Linux it opens the folder holding it in the file manager.
func (b *Bindings) RevealInFinder(path string) error {
	argv, err := revealCommand(goruntime.GOOS, path)
	if err != nil {
		return err
	}
	return startDetached(argv)
}

// OpenDataFolder opens LMX's data folder (database, logs) in the file
// manager.
func (b *Bindings) OpenDataFolder() error {
	if b.app.cfg.DataDir == "" {
		return errors.New("this LMX has no data folder")
	}
	argv, err := openFolderCommand(goruntime.GOOS, b.app.cfg.DataDir)
	if err != nil {
		return err
	}
	return startDetached(argv)
}

// Quit stops the server and quits LMX (closing the window only hides it).
func (b *Bindings) Quit() {
	runtime.Quit(b.ctx)
}

// RunWindow shows the app window until the user quits (or SIGINT/SIGTERM,
// which Wails handles), with the menu-bar icon run by trayCmd (normally
// "<exe> tray") in a child process. Closing the window hides it while the
// menu-bar icon runs (the icon's Open LMX, or a second launch, shows it
// again). The window opens at the size it last had. Its requests reach the
// API in-process, so it keeps working while the network server is stopped.
// It must run on the main goroutine.
func (a *App) RunWindow(assets fs.FS, trayCmd *exec.Cmd) error {
	child := startTray(trayCmd)
	webLanguage()
	b := &Bindings{app: a}
	width, height := a.savedWindowSize()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sizeOnce sync.Once
	nav := &navigator{}
	err := wails.Run(&options.App{
		Title:             "LMX",
		Width:             width,
		Height:            height,
		MinWidth:          windowMinWidth,
		MinHeight:         windowMinHeight,
		AssetServer:       &assetserver.Options{Assets: assets, Handler: a.LocalHandler()},
		HideWindowOnClose: child != nil,
		OnStartup:         func(wctx context.Context) { a.windowStarted(wctx, b, child, nav) },
		// Once the page is up: a route asked for while it loaded, leaving
		// the Dock (macOS), and the size to remember (readable once the
		// window is on screen).
		OnDomReady: func(wctx context.Context) {
			nav.ready(wctx)
			sizeOnce.Do(func() {
				menuBarOnly()
				go a.rememberWindowSize(ctx, wctx)
			})
		},
		OnShutdown: func(context.Context) {
			cancel()
			if child != nil {
				_ = child.Close() // the child exits when its stdin closes
			}
		},
		Bind:  []any{b},
		Menu:  macMenu(),
		Mac:   &mac.Options{About: &mac.AboutInfo{Title: "LMX", Message: "Local models on MLX, served on localhost."}},
		Linux: &linux.Options{ProgramName: "lmx"},
	})
	if err != nil {
		return fmt.Errorf("run window: %w", err)
	}
	return nil
}

// macMenu is the app menu on macOS: without an Edit menu, WebKit gets no
// Cmd+C / Cmd+V / Cmd+A in the window. (A menu-bar app shows no menu bar,
// but its key equivalents still work.) Other systems get none: GTK would
// draw it as a bar in the window.
func macMenu() *menu.Menu {
	if goruntime.GOOS != "darwin" {
		return nil
	}
	return menu.NewMenuFromItems(menu.AppMenu(), menu.EditMenu(), menu.WindowMenu())
}

// savedWindowSize is the size the window last had, within the minimum; the
// default without one.
func (a *App) savedWindowSize() (width, height int) {
	size, ok, err := a.db.WindowSize()
	if err != nil {
		fmt.Fprintf(os.Stderr, "lmx: %v\n", err)
	}
	if !ok || err != nil {
		return windowWidth, windowHeight
	}
	return max(size.Width, windowMinWidth), max(size.Height, windowMinHeight)
}

// windowStarted wires the running window to status events and the tray.
func (a *App) windowStarted(wctx context.Context, b *Bindings, child *tray.Child, nav *navigator) {
	b.ctx = wctx
	show := func() {
		runtime.WindowShow(wctx)
		runtime.WindowUnminimise(wctx)
	}
	a.SetWindow(show)
	a.OnStatus(func(s api.Status) { runtime.EventsEmit(wctx, "status", s) })
	if child != nil {
		go a.ServeTray(child, WindowActions{
			Show: show,
			NewChat: func() {
				show()
				nav.open(wctx, RouteNewChat)
			},
			CopyText: func(text string) error { return runtime.ClipboardSetText(wctx, text) },
			Quit:     func() { runtime.Quit(wctx) },
		})
	}
}

// rememberWindowSize saves the window's size whenever it changes, until ctx
// ends. A maximised, minimised or full-screen window's size is not the one to
// reopen at, so it is skipped.
func (a *App) rememberWindowSize(ctx, wctx context.Context) {
	last, _, _ := a.db.WindowSize()
	t := time.NewTicker(windowSizeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if runtime.WindowIsMaximised(wctx) || runtime.WindowIsMinimised(wctx) || runtime.WindowIsFullscreen(wctx) {
			continue
		}
		w, h := runtime.WindowGetSize(wctx)
		size := store.WindowSize{Width: w, Height: h}
		if size == last || w < windowMinWidth || h < windowMinHeight {
			continue
		}
		if err := a.db.SaveWindowSize(size); err != nil {
			fmt.Fprintf(os.Stderr, "lmx: %v\n", err)
			continue
		}
		last = size
	}
}

// navigator sends the page to a route. It emits NavigateEvent (the page's
// handler sets location.hash) and also sets location.hash itself, which
// holds while the page is still loading and has no handler yet; a route
// asked for before the page's DOM is ready is set again once it is.
type navigator struct {
	mu      sync.Mutex
	domUp   bool
	pending string
}

// open shows route ("chat/new") in the page.
func (n *navigator) open(wctx context.Context, route string) {
	n.mu.Lock()
	if !n.domUp {
		n.pending = route
	}
	n.mu.Unlock()
	runtime.EventsEmit(wctx, NavigateEvent, route)
	runtime.WindowExecJS(wctx, setHashJS(route))
}

// ready is called when the page's DOM is ready (each load).
func (n *navigator) ready(wctx context.Context) {
	n.mu.Lock()
	n.domUp = true
	route := n.pending
	n.pending = ""
	n.mu.Unlock()
	if route != "" {
		runtime.WindowExecJS(wctx, setHashJS(route))
	}
}

// setHashJS is the script that sets location.hash to "#/" + route.
func setHashJS(route string) string {
	b, _ := json.Marshal("#/" + route)
	return "location.hash = " + string(b) + ";"
}

// startTray starts the menu-bar child; without one (no tray support on this
// desktop) the app runs as a plain windowed app and closing the window quits.
func startTray(cmd *exec.Cmd) *tray.Child {
	cmd.Stderr = os.Stderr
	child, err := tray.Start(cmd)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lmx: no menu-bar icon: %v\n", err)
		return nil
	}
	return child
}
