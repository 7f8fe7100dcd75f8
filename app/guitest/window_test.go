package guitest

import (
	"context"
	"image"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testutil"
)

// desktopTags build the Wails window on Linux: WebKitGTK 2.40+ (webkit2_40)
// is needed for POST requests and status codes in the in-process asset server.
var desktopTags = []string{"desktop", "production", "webkit2_40"}

// requireDesktopTools skips (or fails) without Xvfb, the screenshot tools or
// the GTK/WebKit/AppIndicator development packages.
func requireDesktopTools(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the Xvfb window test runs on Linux")
	}
	for _, tool := range []string{"Xvfb", "xdotool", "import", "dbus-daemon", "pgrep", "pkg-config", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			SkipOrFail(t, tool+" is not installed (apt-get install xvfb xdotool imagemagick dbus procps pkg-config curl)")
		}
	}
	if _, err := os.Stat("/usr/bin/convert"); err != nil {
		SkipOrFail(t, "ImageMagick's /usr/bin/convert is not installed (apt-get install imagemagick)")
	}
	pc := exec.Command("pkg-config", "--exists", "gtk+-3.0", "webkit2gtk-4.0", "ayatana-appindicator3-0.1", "x11")
	if pc.Run() != nil {
		SkipOrFail(t, "GTK/WebKit/X11 dev packages missing (apt-get install libgtk-3-dev libwebkit2gtk-4.0-dev libayatana-appindicator3-dev libx11-dev)")
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestWindowUnderXvfb runs the real Wails window (window.sh) with a D-Bus
// session bus and the snitest StatusNotifier host: it must render the
// dashboard, stop and restart the server (from the window's keyboard
// shortcut once the page has one), hide on close with the app and server
// alive and come back from the tray's Open LMX, answer a second launch by
// showing itself (the second exits 0), exit with its menu-bar child on
// SIGTERM, and reopen at the size it was resized to.
func TestWindowUnderXvfb(t *testing.T) {
	requireDesktopTools(t)
	RequireUI(t)
	root := testutil.RepoRoot(t)
	artifacts := filepath.Join(root, "test-artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := Build(t, desktopTags...)
	snihost, wmclose := buildTool(t, "snihost"), buildTool(t, "wmclose")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	script := filepath.Join(root, "app", "guitest", "window.sh")
	cmd := exec.CommandContext(ctx, "bash", script, bin, strconv.Itoa(freePort(t)), artifacts, snihost, wmclose)
	cmd.Env = NoEngineEnv()
	out, err := cmd.CombinedOutput()
	t.Logf("window.sh:\n%s", out)
	if err != nil {
		t.Fatalf("window under Xvfb: %v (app log: %s)", err, filepath.Join(artifacts, "window-app.log"))
	}
	checkScreenshot(t, filepath.Join(artifacts, "window.png"))
}

// checkScreenshot fails unless the window's screenshot shows a rendered page:
// many colours (text, charts, bars) and no colour covering nearly all of it
// (a blank or error-coloured page). The dashboard's layout is the frontend's,
// so nothing here depends on where it puts things.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	colours, dominant, total := colourStats(img)
	t.Logf("%s: %d colours, the commonest on %d of %d pixels", path, colours, dominant, total)
	if colours < 64 {
		t.Errorf("screenshot has %d colours: the window looks blank", colours)
	}
	if dominant*100 > total*97 {
		t.Errorf("one colour covers %d of %d pixels: the page did not render", dominant, total)
	}
}

// colourStats counts distinct colours and the pixels of the commonest.
func colourStats(img image.Image) (colours, dominant, total int) {
	seen := map[[3]uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := [3]uint32{r >> 8, g >> 8, bl >> 8}
			seen[c]++
			dominant = max(dominant, seen[c])
		}
	}
	return len(seen), dominant, b.Dx() * b.Dy()
}
