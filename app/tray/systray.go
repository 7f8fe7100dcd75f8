//go:build desktop

package tray

import (
	_ "embed"
	"io"
	"sync/atomic"

	"github.com/getlantern/systray"
)

// icon is the menu-bar icon: black on transparent, so macOS can tint it as a
// template image.
//
//go:embed icon.png
var icon []byte

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

// systrayMenu implements Menu with getlantern/systray.
type systrayMenu struct {
	server, model            *systray.MenuItem
	toggle, open, chat, quit *systray.MenuItem
	running                  atomic.Bool
	clicks                   chan Command
}

// newSystrayMenu builds the menu; it must run in systray's onReady.
func newSystrayMenu() *systrayMenu {
	systray.SetTemplateIcon(icon, icon)
	systray.SetTooltip("LMX")
	m := &systrayMenu{clicks: make(chan Command, 4)}
	m.server = systray.AddMenuItem("Server stopped", "State of the local HTTP server")
	m.server.Disable()
	m.model = systray.AddMenuItem("No model loaded", "Loaded model")
	m.model.Disable()
	systray.AddSeparator()
	m.toggle = systray.AddMenuItem("Start server", "Start or stop the local HTTP server")
	m.open = systray.AddMenuItem("Open LMX", "Show the LMX window")
	m.chat = systray.AddMenuItem("Open Chat", "Chat with the loaded model")
	systray.AddSeparator()
	m.quit = systray.AddMenuItem("Quit LMX", "Stop the server and quit")
	go m.listen()
	return m
}

// listen turns menu clicks into commands.
func (m *systrayMenu) listen() {
	for {
		select {
		case <-m.toggle.ClickedCh:
			if m.running.Load() {
				m.clicks <- StopServer
			} else {
				m.clicks <- StartServer
			}
		case <-m.open.ClickedCh:
			m.clicks <- OpenWindow
		case <-m.chat.ClickedCh:
			m.clicks <- OpenChat
		case <-m.quit.ClickedCh:
			m.clicks <- Quit
		}
	}
}

// Show updates the menu's titles from s.
func (m *systrayMenu) Show(s Status) {
	m.running.Store(s.Running)
	if s.Running {
		m.server.SetTitle("Server running at " + s.URL)
		m.toggle.SetTitle("Stop server")
	} else {
		m.server.SetTitle("Server stopped")
		m.toggle.SetTitle("Start server")
	}
	switch {
	case s.EngineError != "":
		m.model.SetTitle("MLX engine unavailable (see the window)")
	case s.Model != "":
		m.model.SetTitle("Model: " + s.Model)
	default:
		m.model.SetTitle("No model loaded")
	}
}

// Clicks implements Menu.
func (m *systrayMenu) Clicks() <-chan Command {
	return m.clicks
}
