package app

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/app/tray"
)

// WindowActions carry out the tray commands that concern the window; the
// desktop build fills them with Wails runtime calls.
type WindowActions struct {
	Show     func()
	OpenChat func()
	Quit     func()
}

// trayStatus is the part of s the menu shows.
func trayStatus(s api.Status) tray.Status {
	return tray.Status{Running: s.Server.Running, URL: s.Server.URL, EngineError: s.Engine.Error}
}

// ServeTray connects child to the app until the child exits: status changes
// go to the menu, menu commands are carried out (window ones through win).
func (a *App) ServeTray(child *tray.Child, win WindowActions) {
	var mu sync.Mutex
	var last *tray.Status
	send := func(s api.Status) {
		ts := trayStatus(s)
		mu.Lock()
		defer mu.Unlock()
		if last != nil && *last == ts {
			return
		}
		last = &ts
		// A send fails only when the child is gone; Commands then closes.
		_ = child.Send(ts)
	}
	a.OnStatus(send)
	send(a.Status(context.Background()))
	for cmd := range child.Commands() {
		if err := a.trayCommand(cmd, win); err != nil {
			fmt.Fprintf(os.Stderr, "lmx: tray %s: %v\n", cmd, err)
		}
	}
}

// trayCommand carries out one menu command.
func (a *App) trayCommand(cmd tray.Command, win WindowActions) error {
	switch cmd {
	case tray.StartServer:
		return a.StartServer()
	case tray.StopServer:
		return a.StopServer()
	case tray.OpenWindow:
		win.Show()
	case tray.OpenChat:
		win.OpenChat()
	case tray.Quit:
		win.Quit()
	default:
		return fmt.Errorf("unknown tray command %q", cmd)
	}
	return nil
}
