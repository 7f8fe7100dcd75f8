package guitest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/tray"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/snitest"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// desktopSession starts a fresh Xvfb and a D-Bus session bus (Debian's
// dbus-daemon) for the test and returns the environment that points at them.
func desktopSession(t *testing.T) (env []string, busAddr string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	xvfb := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", "1280x800x24", "-nolisten", "tcp")
	xvfb.ExtraFiles = []*os.File{w}
	if err := xvfb.Start(); err != nil {
		t.Fatalf("start Xvfb: %v", err)
	}
	w.Close()
	t.Cleanup(func() { _ = xvfb.Process.Kill(); _ = xvfb.Wait() })
	display, err := readFirstLine(r, 20*time.Second)
	r.Close()
	if err != nil {
		t.Fatalf("Xvfb display: %v", err)
	}
	bus := exec.Command("dbus-daemon", "--session", "--nofork", "--print-address=1")
	out, err := bus.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(); err != nil {
		t.Fatalf("start dbus-daemon: %v", err)
	}
	t.Cleanup(func() { _ = bus.Process.Kill(); _ = bus.Wait() })
	if busAddr, err = readFirstLine(out, 10*time.Second); err != nil {
		t.Fatalf("dbus-daemon address: %v", err)
	}
	env = append(os.Environ(), "DISPLAY=:"+display, "DBUS_SESSION_BUS_ADDRESS="+busAddr,
		// Xvfb has no GPU for WebKitGTK's DMA-BUF renderer; no accessibility bus.
		"WEBKIT_DISABLE_DMABUF_RENDERER=1", "NO_AT_BRIDGE=1")
	return env, busAddr
}

// readFirstLine reads one line from r within limit.
func readFirstLine(r interface{ Read([]byte) (int, error) }, limit time.Duration) (string, error) {
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		got <- strings.TrimSpace(line)
	}()
	select {
	case line := <-got:
		if line == "" {
			return "", errors.New("no output")
		}
		return line, nil
	case <-time.After(limit):
		return "", fmt.Errorf("nothing within %v", limit)
	}
}

// untilTrue polls ok every 200 ms until it holds or limit passes.
func untilTrue(limit time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
	return true
}

// tcpOpen reports whether something listens on the loopback port.
func tcpOpen(port int) bool {
	err := exec.Command("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/"+strconv.Itoa(port)).Run()
	return err == nil
}

// visibleWindow returns the id of the visible window titled LMX, "" if none.
func visibleWindow(env []string) string {
	cmd := exec.Command("xdotool", "search", "--onlyvisible", "--name", "^LMX$")
	cmd.Env = env
	out, _ := cmd.Output()
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// buildTool compiles one of snitest's commands.
func buildTool(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "./internal/snitest/cmd/"+name)
	cmd.Dir = testutil.RepoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// TestTrayOverDBus runs the real desktop app (window, `lmx tray` child with
// getlantern/systray → libayatana-appindicator) under Xvfb on a real D-Bus
// session bus whose StatusNotifierWatcher and host is snitest. It loads
// stories260k on the real MLX runtime, reads the tray's menu over
// com.canonical.dbusmenu and drives it as a panel would: the status line
// names the port and the loaded model its memory; Stop / Start server close
// and reopen the port and the menu follows; Copy endpoint URL fills the
// clipboard; with the window closed (hidden, the app and server alive), Open
// LMX and New chat show it again; Quit ends the app, its tray and the item.
func TestTrayOverDBus(t *testing.T) {
	requireDesktopTools(t)
	if _, err := exec.LookPath("xclip"); err != nil {
		SkipOrFail(t, "xclip is not installed (apt-get install xclip)")
	}
	RequireUI(t)
	mlxtest.Require(t)
	bin := Build(t, desktopTags...)
	wmclose := buildTool(t, "wmclose")
	env, busAddr := desktopSession(t)
	watcher, err := snitest.NewWatcher(busAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()

	dir := t.TempDir()
	model := testmodel.StoriesChat(t, dir, "stories-tray")
	port := freePort(t)
	logPath := filepath.Join(dir, "app.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	app := exec.Command(bin, "--port", strconv.Itoa(port), "--data-dir", filepath.Join(dir, "data"), "--model", model)
	app.Dir, app.Stdout, app.Stderr = dir, logFile, logFile
	app.Env = append(env, "HF_HUB_CACHE="+filepath.Join(dir, "hub"))
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = app.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			_ = app.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("app log:\n%s", log)
		}
	}()
	logHas := func(s string) func() bool {
		return func() bool { b, _ := os.ReadFile(logPath); return strings.Contains(string(b), s) }
	}

	item, err := watcher.WaitItem(60 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	menu := snitest.NewClient(watcher.Conn(), item)
	props, err := menu.Properties()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("item %s%s: Id=%v Status=%v IconName=%v Menu=%v", item.Service, item.Path,
		props["Id"], props["Status"], props["IconName"], props["Menu"])
	if props["Status"].Value() != "Active" {
		t.Errorf("item Status = %v, want Active", props["Status"])
	}

	running := fmt.Sprintf("LMX running on :%d", port)
	modelLine := func(labels []string) bool {
		return slices.ContainsFunc(labels, func(l string) bool {
			return strings.HasPrefix(l, "stories-tray — ") && (strings.HasSuffix(l, " kB") || strings.HasSuffix(l, " MB"))
		})
	}
	labels, err := menu.WaitLabels(90*time.Second, func(l []string) bool {
		return slices.Contains(l, running) && modelLine(l) && slices.Contains(l, tray.LabelStop)
	})
	t.Logf("menu: %q", labels)
	if err != nil {
		t.Fatalf("menu never showed %q, the loaded model and %q: %v", running, tray.LabelStop, err)
	}
	if labels[0] != running {
		t.Errorf("first menu line %q, want the status line %q", labels[0], running)
	}
	for _, want := range []string{tray.LabelCopyURL, tray.LabelOpen, tray.LabelNewChat, tray.LabelQuit} {
		if !slices.Contains(labels, want) {
			t.Errorf("menu lacks %q: %q", want, labels)
		}
	}
	if slices.Contains(labels, tray.LabelNoModel) {
		t.Errorf("menu says %q with a model loaded", tray.LabelNoModel)
	}

	// Copy endpoint URL: the child copies with xclip on this display.
	if err := menu.Click(tray.LabelCopyURL); err != nil {
		t.Fatal(err)
	}
	wantURL := fmt.Sprintf("http://127.0.0.1:%d/v1", port)
	var clip string
	if !untilTrue(5*time.Second, func() bool {
		cmd := exec.Command("xclip", "-o", "-selection", "clipboard")
		cmd.Env = env
		out, _ := cmd.Output()
		clip = string(out)
		return clip == wantURL
	}) {
		t.Errorf("clipboard holds %q after Copy endpoint URL, want %q", clip, wantURL)
	}

	// Stop and start the server from the menu.
	if err := menu.Click(tray.LabelStop); err != nil {
		t.Fatal(err)
	}
	if !untilTrue(10*time.Second, func() bool { return !tcpOpen(port) }) {
		t.Fatal("port still open after the menu's Stop server")
	}
	if labels, err = menu.WaitLabels(10*time.Second, func(l []string) bool {
		return l[0] == "LMX stopped" && slices.Contains(l, tray.LabelStart)
	}); err != nil {
		t.Fatalf("menu after Stop server: %v", err)
	}
	t.Logf("menu stopped: %q", labels)
	layout, err := menu.Layout()
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := layout.Find(tray.LabelCopyURL); e.Enabled {
		t.Error("Copy endpoint URL is enabled while the server is stopped")
	}
	if err := menu.Click(tray.LabelStart); err != nil {
		t.Fatal(err)
	}
	if !untilTrue(10*time.Second, func() bool { return tcpOpen(port) }) {
		t.Fatal("port still closed after the menu's Start server")
	}
	if _, err = menu.WaitLabels(10*time.Second, func(l []string) bool {
		return l[0] == running && slices.Contains(l, tray.LabelStop)
	}); err != nil {
		t.Fatalf("menu after Start server: %v", err)
	}

	// Closing the window hides it; the tray brings it back.
	wid := visibleWindow(env)
	if wid == "" {
		t.Fatal("no visible LMX window")
	}
	dashboard := settledShot(t, env, wid, filepath.Join(desktopArtifacts(t), "tray-dashboard.png"))
	closeWindow := func() {
		t.Helper()
		cmd := exec.Command(wmclose, wid)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("wmclose: %v %s", err, out)
		}
		if !untilTrue(10*time.Second, func() bool { return visibleWindow(env) == "" }) {
			t.Fatal("the window is still visible after its close button")
		}
		if app.Process.Signal(syscall.Signal(0)) != nil {
			t.Fatal("the app exited when its window was closed")
		}
		if !tcpOpen(port) {
			t.Fatal("the server stopped when the window was closed")
		}
	}
	closeWindow()
	if err := menu.Click(tray.LabelOpen); err != nil {
		t.Fatal(err)
	}
	if !untilTrue(10*time.Second, func() bool { return visibleWindow(env) == wid }) {
		t.Fatal("Open LMX did not show the window again")
	}
	if !untilTrue(5*time.Second, logHas("lmx: tray: "+string(tray.OpenWindow))) {
		t.Error("the app did not log the tray's open_window")
	}
	closeWindow()
	if err := menu.Click(tray.LabelNewChat); err != nil {
		t.Fatal(err)
	}
	if !untilTrue(10*time.Second, func() bool { return visibleWindow(env) == wid }) {
		t.Fatal("New chat did not show the window")
	}
	if !untilTrue(5*time.Second, logHas("lmx: tray: "+string(tray.OpenChat))) {
		t.Error("the app did not log the tray's open_chat")
	}
	// The page left the Dashboard for the Chat page: most of the window
	// changed (the Dashboard's own live figures change well under 1%).
	chat := settledShot(t, env, wid, filepath.Join(desktopArtifacts(t), "tray-new-chat.png"))
	if d := changedShare(dashboard, chat); d < 0.03 {
		t.Errorf("after New chat only %.1f%% of the window differs from the Dashboard: the page did not navigate", d*100)
	} else {
		t.Logf("after New chat %.1f%% of the window differs from the Dashboard", d*100)
	}

	// Quit ends the app, its menu-bar child and the item.
	if err := menu.Click(tray.LabelQuit); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("app exit after Quit: %v", waitErr)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the app did not exit after the tray's Quit")
	}
	if !untilTrue(5*time.Second, func() bool { return len(watcher.Items()) == 0 }) {
		t.Errorf("the tray item is still registered after Quit: %+v", watcher.Items())
	}
}

// desktopArtifacts is test-artifacts/ at the repository root, created.
func desktopArtifacts(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "test-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// settledShot screenshots window wid once two shots a second apart are the
// same (WebKit shows its last frame until it paints a new one, which takes
// a while on a loaded machine), saves it at path and returns it.
func settledShot(t *testing.T, env []string, wid, path string) image.Image {
	t.Helper()
	var last []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command("import", "-window", wid, "png:-")
		cmd.Env = env
		shot, err := cmd.Output()
		if err != nil {
			t.Fatalf("screenshot of window %s: %v", wid, err)
		}
		if bytes.Equal(shot, last) || time.Now().After(deadline) {
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(shot))
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
		last = shot
		time.Sleep(time.Second)
	}
}

// changedShare is the share of pixels that differ clearly between a and b
// (0 to 1; 1 when their sizes differ).
func changedShare(a, b image.Image) float64 {
	if a.Bounds() != b.Bounds() {
		return 1
	}
	r := a.Bounds()
	changed := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if absDiff(r1, r2)+absDiff(g1, g2)+absDiff(b1, b2) > 3*0x1000 {
				changed++
			}
		}
	}
	return float64(changed) / float64(r.Dx()*r.Dy())
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
