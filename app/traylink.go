package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/app/tray"
	"github.com/lmx-app/lmx/internal/safe"
)

// WindowActions carry out the tray commands that concern the window; the
// desktop build fills them with Wails runtime calls.
type WindowActions struct {
	Show func()
	// NewChat shows the window on the Chat page with a new conversation.
	NewChat func()
	// CopyText copies text with the window's toolkit (for a tray child that
	// has no clipboard tool of its own); nil when there is none.
	CopyText func(text string) error
	Quit     func()
}

// trayPoolTimeout bounds the pool and MLX memory read behind one menu update.
const trayPoolTimeout = 2 * time.Second

// trayStatus is the part of the app's state the menu shows: s plus the
// pool's loaded models and MLX's active memory.
func (a *App) trayStatus(ctx context.Context, s api.Status) tray.Status {
	ts := tray.Status{Running: s.Server.Running, URL: s.Server.URL, EngineError: s.Engine.Error,
		ServerError: s.Server.Error}
	if s.Server.Running {
		ts.Port = s.Server.Port
	}
	ctx, cancel := context.WithTimeout(ctx, trayPoolTimeout)
	defer cancel()
	pool, err := a.PoolStatus(ctx)
	if err != nil {
		// The status line still shows; the models appear on the next update.
		fmt.Fprintf(os.Stderr, "lmx: tray: pool status: %v\n", err)
		return ts
	}
	for _, m := range pool.Models {
		// The weights are what a loaded model holds for sure; its KV and
		// prefix cache are reserves that fill as requests run (MLX's active
		// memory, on its own line, has them).
		ts.Models = append(ts.Models, tray.Model{ID: m.ID, State: m.State, Bytes: m.WeightBytes})
	}
	if pool.MLX != nil {
		ts.MLXActiveBytes = pool.MLX.Active
	}
	return ts
}

// ServeTray connects child to the app until the child exits: status changes
// go to the menu, menu commands are carried out (window ones through win).
// Statuses are turned into menu updates on a goroutine of its own, so a slow
// pool read never holds up Publish, and a change is sent once.
func (a *App) ServeTray(child *tray.Child, win WindowActions) {
	changed := make(chan struct{}, 1)
	a.OnStatus(func(api.Status) {
		select {
		case changed <- struct{}{}:
		default: // an update is already due; it reads the newest state
		}
	})
	changed <- struct{}{}
	go func() {
		var last *tray.Status
		for {
			select {
			case <-child.Exited():
				return
			case <-changed:
			}
			// A panic building the menu's status skips this update (logged).
			var ts tray.Status
			if safe.Call("tray status", func() error {
				safe.Point("tray.status")
				ts = a.trayStatus(context.Background(), a.Status(context.Background()))
				return nil
			}) != nil {
				continue
			}
			if last != nil && last.Equal(ts) {
				continue
			}
			last = &ts
			// A send fails only when the child is gone; Commands then closes.
			_ = child.Send(ts)
		}
	}()
	for cmd := range child.Commands() {
		// A panic carrying out one command is logged; the menu keeps working.
		if err := safe.Call(fmt.Sprint("tray ", cmd), func() error { return a.trayCommand(cmd, win) }); err != nil {
			fmt.Fprintf(os.Stderr, "lmx: tray %s: %v\n", cmd, err)
		}
	}
}

// trayCommand carries out one menu command.
func (a *App) trayCommand(cmd tray.Command, win WindowActions) error {
	fmt.Fprintf(os.Stderr, "lmx: tray: %s\n", cmd)
	switch cmd {
	case tray.StartServer:
		return a.StartServer()
	case tray.StopServer:
		return a.StopServer()
	case tray.OpenWindow:
		win.Show()
	case tray.OpenChat:
		win.NewChat()
	case tray.CopyURL:
		url := a.URL()
		if url == "" {
			return errors.New("the server is stopped")
		}
		if win.CopyText == nil {
			return errors.New("no clipboard")
		}
		return win.CopyText(url + "/v1")
	case tray.Quit:
		win.Quit()
	default:
		return fmt.Errorf("unknown tray command %q", cmd)
	}
	return nil
}
