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
	for _, tool := range []string{"Xvfb", "xdotool", "import", "dbus-daemon", "pgrep", "pkg-config"} {
		if _, err := exec.LookPath(tool); err != nil {
			SkipOrFail(t, tool+" is not installed (apt-get install xvfb xdotool imagemagick dbus procps pkg-config)")
		}
	}
	if _, err := os.Stat("/usr/bin/convert"); err != nil {
		SkipOrFail(t, "ImageMagick's /usr/bin/convert is not installed (apt-get install imagemagick)")
	}
	pc := exec.Command("pkg-config", "--exists", "gtk+-3.0", "webkit2gtk-4.0", "ayatana-appindicator3-0.1")
	if pc.Run() != nil {
		SkipOrFail(t, "GTK/WebKit dev packages missing (apt-get install libgtk-3-dev libwebkit2gtk-4.0-dev libayatana-appindicator3-dev)")
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

// TestWindowUnderXvfb runs the real Wails window (window.sh): it must render
// the dashboard, stop and restart the server from its button through the
// in-process API, answer a second launch by showing itself (the second
// exits 0), and exit with its menu-bar child on SIGTERM.
func TestWindowUnderXvfb(t *testing.T) {
	requireDesktopTools(t)
	RequireUI(t)
	root := testutil.RepoRoot(t)
	artifacts := filepath.Join(root, "test-artifacts")
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := Build(t, desktopTags...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	script := filepath.Join(root, "app", "guitest", "window.sh")
	cmd := exec.CommandContext(ctx, "bash", script, bin, strconv.Itoa(freePort(t)), artifacts)
	cmd.Env = NoEngineEnv()
	out, err := cmd.CombinedOutput()
	t.Logf("window.sh:\n%s", out)
	if err != nil {
		t.Fatalf("window under Xvfb: %v (app log: %s)", err, filepath.Join(artifacts, "window-app.log"))
	}
	checkScreenshot(t, filepath.Join(artifacts, "window.png"))
}

// checkScreenshot fails unless the screenshot shows a rendered page: many
// colours, and the dashboard's blue header band.
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
	colours, blue, total := colourStats(img)
	t.Logf("%s: %d colours, %d of %d pixels header blue", path, colours, blue, total)
	if colours < 64 {
		t.Errorf("screenshot has %d colours: the window looks blank", colours)
	}
	if blue*100 < total {
		t.Errorf("only %d of %d pixels are the header's blue: the dashboard did not render", blue, total)
	}
}

// colourStats counts distinct colours and strongly blue pixels.
func colourStats(img image.Image) (colours, blue, total int) {
	seen := map[[3]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			seen[[3]uint32{r, g, bl}] = true
			if bl > max(r, g)+60 {
				blue++
			}
		}
	}
	return len(seen), blue, b.Dx() * b.Dy()
}
