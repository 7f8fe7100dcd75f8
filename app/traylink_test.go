package app

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/tray"
)

// trayChildEnv makes the test binary act as a scripted tray child.
const trayChildEnv = "LMX_APP_TEST_TRAY_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(trayChildEnv) == "1" {
		if err := tray.Serve(os.Stdin, os.Stdout, &scriptedMenu{clicks: make(chan tray.Command, 4)}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// scriptedMenu clicks "Stop server" when it sees the server running, then
// "Open Chat" and "Quit" when it sees it stopped.
type scriptedMenu struct{ clicks chan tray.Command }

func (m *scriptedMenu) Show(s tray.Status) {
	if s.Running {
		m.clicks <- tray.StopServer
		return
	}
	m.clicks <- tray.OpenChat
	m.clicks <- tray.Quit
}

func (m *scriptedMenu) Clicks() <-chan tray.Command { return m.clicks }

func TestServeTrayWithChildProcess(t *testing.T) {
	a := newTestApp(t, false)
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), trayChildEnv+"=1")
	cmd.Stderr = os.Stderr
	child, err := tray.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	chat, quit := make(chan struct{}, 1), make(chan struct{}, 1)
	win := WindowActions{
		Show:     func() { t.Error("the menu never asked to show the window") },
		OpenChat: func() { chat <- struct{}{} },
		Quit:     func() { quit <- struct{}{} },
	}
	served := make(chan struct{})
	go func() { a.ServeTray(child, win); close(served) }()
	select {
	case <-quit:
	case <-time.After(10 * time.Second):
		t.Fatal("the tray's Quit never arrived")
	}
	if a.URL() != "" {
		t.Error("server still running after the tray's Stop server")
	}
	if len(chat) != 1 {
		t.Error("Open Chat did not reach the window")
	}
	if err := child.Close(); err != nil {
		t.Errorf("tray child exit: %v", err)
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeTray did not return after the child exited")
	}
}

func TestTrayCommandUnknown(t *testing.T) {
	a := newTestApp(t, false)
	if err := a.trayCommand("reboot", WindowActions{}); err == nil {
		t.Error("unknown tray command accepted")
	}
}
