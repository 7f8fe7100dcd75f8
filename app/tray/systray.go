//go:build desktop

package tray

import (
	_ "embed"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/getlantern/systray"
)

// iconTemplate is the macOS menu-bar icon: black on transparent, which macOS
// tints for the light or dark menu bar. iconColour is the Linux tray icon.
// Both are drawn by build/icons (go generate ./app/tray).
//
//go:generate go run ../../build/icons
//go:embed icon.png
var iconTemplate []byte

//go:embed icon_color.png
var iconColour []byte

// Run shows the menu-bar icon and serves the protocol on in and out; it
// returns when in closes. It must be called from the main goroutine (systray
// takes the main run loop).
func Run(in io.Reader, out io.Writer) error {
	served := make(chan error, 1)
	systray.Run(func() {
		m := newSystrayMenu()
		go func() {
			served <- Serve(in, out, m)
			systray.Quit()
		}()
	}, func() {})
	return <-served
}

// systrayMenu implements Menu with getlantern/systray. systray cannot remove
// items, so the model lines are made up front and hidden when unused.
type systrayMenu struct {
	server, engine, memory *systray.MenuItem
	models                 [MaxModelItems]*systray.MenuItem
	toggle, copyURL        *systray.MenuItem
	open, chat, quit       *systray.MenuItem
	mu                     sync.Mutex
	status                 Status
	clicks                 chan Command
}

// newSystrayMenu builds the menu; it must run in systray's onReady.
func newSystrayMenu() *systrayMenu {
	systray.SetTemplateIcon(iconTemplate, iconColour)
	systray.SetTitle("")
	systray.SetTooltip("LMX")
	m := &systrayMenu{clicks: make(chan Command, 8)}
	info := func(title, tip string) *systray.MenuItem {
		it := systray.AddMenuItem(title, tip)
		it.Disable()
		return it
	}
	m.server = info("LMX stopped", "State of the local HTTP server")
	m.engine = info("", "The MLX runtime")
	m.engine.Hide()
	for i := range m.models {
		m.models[i] = info(LabelNoModel, "A loaded model and the memory it holds")
		if i > 0 {
			m.models[i].Hide()
		}
	}
	m.memory = info("", "MLX's active memory")
	m.memory.Hide()
	systray.AddSeparator()
	m.toggle = systray.AddMenuItem(LabelStart, "Start or stop the local HTTP server")
	m.copyURL = systray.AddMenuItem(LabelCopyURL, "Copy the server's URL")
	m.copyURL.Disable()
	systray.AddSeparator()
	m.open = systray.AddMenuItem(LabelOpen, "Show the LMX window")
	m.chat = systray.AddMenuItem(LabelNewChat, "Start a conversation in the LMX window")
	systray.AddSeparator()
	m.quit = systray.AddMenuItem(LabelQuit, "Stop the server and quit")
	go m.listen()
	return m
}

// listen turns menu clicks into commands.
func (m *systrayMenu) listen() {
	for {
		select {
		case <-m.toggle.ClickedCh:
			if m.current().Running {
				m.clicks <- StopServer
			} else {
				m.clicks <- StartServer
			}
		case <-m.copyURL.ClickedCh:
			m.copy()
		case <-m.open.ClickedCh:
			m.clicks <- OpenWindow
		case <-m.chat.ClickedCh:
			m.clicks <- OpenChat
		case <-m.quit.ClickedCh:
			m.clicks <- Quit
		}
	}
}

// copy copies the endpoint URL with the system's clipboard tool, or asks the
// parent to when there is none.
func (m *systrayMenu) copy() {
	s := m.current()
	if !s.Running || s.URL == "" {
		return
	}
	err := CopyText(s.URL + "/v1")
	switch {
	case err == nil:
	case err == ErrNoClipboard:
		m.clicks <- CopyURL
	default:
		fmt.Fprintf(os.Stderr, "lmx tray: copy: %v\n", err)
		m.clicks <- CopyURL
	}
}

func (m *systrayMenu) current() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.status
}

// Show updates the menu from s.
func (m *systrayMenu) Show(s Status) {
	m.mu.Lock()
	m.status = s
	m.mu.Unlock()
	t := MenuText(s)
	m.server.SetTitle(t.Server)
	showText(m.engine, t.Engine)
	showText(m.memory, t.Memory)
	for i, item := range m.models {
		if i < len(t.Models) {
			showText(item, t.Models[i])
		} else {
			item.Hide()
		}
	}
	m.toggle.SetTitle(t.Toggle)
	if t.CanCopy {
		m.copyURL.Enable()
	} else {
		m.copyURL.Disable()
	}
}

// showText shows item with title, or hides it when title is "".
func showText(item *systray.MenuItem, title string) {
	if title == "" {
		item.Hide()
		return
	}
	item.SetTitle(title)
	item.Show()
}

// Clicks implements Menu.
func (m *systrayMenu) Clicks() <-chan Command {
	return m.clicks
}
