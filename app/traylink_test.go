package app

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/tray"
	"github.com/lmx-app/lmx/store"
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
		Show:    func() { t.Error("the menu never asked to show the window") },
		NewChat: func() { chat <- struct{}{} },
		Quit:    func() { quit <- struct{}{} },
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
		t.Error("New chat did not reach the window")
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

// TestTrayStatusShowsLoadedModels loads stories260k on the real MLX runtime
// and checks that the menu's status carries it with its memory, MLX's active
// memory, and no port while the server is stopped.
func TestTrayStatusShowsLoadedModels(t *testing.T) {
	a, ids := poolApp(t, 1, func(*store.Settings) {})
	ctx := context.Background()
	if ts := a.trayStatus(ctx, a.Status(ctx)); len(ts.Models) != 0 {
		t.Fatalf("models before any load: %+v", ts.Models)
	}
	if err := a.LoadPoolModel(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	ts := a.trayStatus(ctx, a.Status(ctx))
	if len(ts.Models) != 1 || ts.Models[0].ID != ids[0] || ts.Models[0].State != "loaded" || ts.Models[0].Bytes <= 0 {
		t.Errorf("tray models = %+v, want %s loaded with its bytes", ts.Models, ids[0])
	}
	if ts.MLXActiveBytes <= 0 {
		t.Errorf("MLX active memory %d with a model loaded", ts.MLXActiveBytes)
	}
	if ts.Running || ts.Port != 0 {
		t.Errorf("the server was never started, yet the tray status says %+v", ts)
	}
	text := tray.MenuText(ts)
	if len(text.Models) != 1 || !strings.HasPrefix(text.Models[0], ids[0][strings.LastIndex(ids[0], "/")+1:]+" — ") {
		t.Errorf("menu model lines %q", text.Models)
	}
}

func TestNativeCommands(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/model.gguf"
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		got  func() ([]string, error)
		want []string
	}{
		{"reveal a file on macOS", func() ([]string, error) { return revealCommand("darwin", file) }, []string{"open", "-R", file}},
		{"reveal a file on Linux", func() ([]string, error) { return revealCommand("linux", file) }, []string{"xdg-open", dir}},
		{"reveal a folder on Linux", func() ([]string, error) { return revealCommand("linux", dir) }, []string{"xdg-open", dir}},
		{"open the data folder on macOS", func() ([]string, error) { return openFolderCommand("darwin", dir) }, []string{"open", dir}},
		{"open the data folder on Linux", func() ([]string, error) { return openFolderCommand("linux", dir) }, []string{"xdg-open", dir}},
	} {
		got, err := c.got()
		if err != nil || strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	if _, err := revealCommand("linux", dir+"/missing"); err == nil {
		t.Error("revealing a missing file succeeded")
	}
	if _, err := openFolderCommand("darwin", file); err == nil {
		t.Error("opening a file as a folder succeeded")
	}
}
