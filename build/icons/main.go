// Command icons draws LMX's icons, so none is a binary of unknown origin:
//
//	go run ./build/icons                 # app/tray/icon.png, app/tray/icon_color.png, build/appicon.png
//	go run ./build/icons -iconset DIR    # DIR/icon_16x16.png … icon_512x512@2x.png for iconutil
//
// The glyph is three level bars (a model "serving") in a rounded square: on
// the macOS menu bar a template image (black and alpha only, which macOS
// tints for light and dark menu bars), on Linux trays a blue tile, and the
// app icon a blue tile on the macOS icon grid. Run it from the repository
// root; build/icons' test checks the committed files are its output.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

// Style is one rendering of the glyph.
type Style int

const (
	// Template is black on transparent, outlined (the macOS menu bar).
	Template Style = iota
	// Tile is white bars on a blue rounded square filling the image (Linux trays).
	Tile
	// AppIcon is Tile inset on the macOS icon grid (824 of 1024 px).
	AppIcon
)

// Outputs are the committed files and how each is drawn.
var Outputs = []struct {
	Path  string
	Size  int
	Style Style
}{
	{"app/tray/icon.png", 44, Template}, // 22 pt at 2x
	{"app/tray/icon_color.png", 64, Tile},
	{"build/appicon.png", 1024, AppIcon},
}

// IconsetSizes are the pixel sizes of a macOS .iconset (name, pixels).
var IconsetSizes = []struct {
	Name string
	Px   int
}{
	{"icon_16x16.png", 16}, {"icon_16x16@2x.png", 32}, {"icon_32x32.png", 32}, {"icon_32x32@2x.png", 64},
	{"icon_128x128.png", 128}, {"icon_128x128@2x.png", 256}, {"icon_256x256.png", 256},
	{"icon_256x256@2x.png", 512}, {"icon_512x512.png", 512}, {"icon_512x512@2x.png", 1024},
}

func main() {
	iconset := flag.String("iconset", "", "write a macOS .iconset folder here instead of the committed icons")
	flag.Parse()
	if err := run(*iconset); err != nil {
		fmt.Fprintln(os.Stderr, "icons:", err)
		os.Exit(1)
	}
}

func run(iconset string) error {
	if iconset != "" {
		if err := os.MkdirAll(iconset, 0o755); err != nil {
			return err
		}
		for _, s := range IconsetSizes {
			if err := write(filepath.Join(iconset, s.Name), Draw(s.Px, AppIcon)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, o := range Outputs {
		if err := write(o.Path, Draw(o.Size, o.Style)); err != nil {
			return err
		}
	}
	return nil
}

func write(path string, img image.Image) error {
	b, err := Encode(img)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Encode is img as PNG at the best compression (deterministic).
func Encode(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Draw renders the glyph at size×size pixels, anti-aliased by 4×4
// supersampling.
func Draw(size int, style Style) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) / float64(size)
					y := (float64(py) + (float64(sy)+0.5)/ss) / float64(size)
					c, alpha := sample(x, y, style)
					r += c[0] * alpha
					g += c[1] * alpha
					b += c[2] * alpha
					a += alpha
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{R: u8(r / a), G: u8(g / a), B: u8(b / a), A: u8(a / (ss * ss))})
		}
	}
	return img
}

func u8(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(1, v)) * 255)) }

// sample is the colour and coverage of the point (x, y) of the unit square.
func sample(x, y float64, style Style) ([3]float64, float64) {
	black := [3]float64{0, 0, 0}
	switch style {
	case Template:
		if inBars(x, y) || (inRoundRect(x, y, 0.06, 0.2) && !inRoundRect(x, y, 0.15, 0.12)) {
			return black, 1
		}
		return black, 0
	case Tile:
		return tile(x, y, 0.03, 0.2)
	}
	// AppIcon: macOS icon grid, an 824 px square with a 185 px radius in 1024.
	return tile(x, y, 100.0/1024, 185.0/1024)
}

// tile is white bars on a blue gradient rounded square inset by inset.
func tile(x, y, inset, radius float64) ([3]float64, float64) {
	if !inRoundRect(x, y, inset, radius) {
		return [3]float64{}, 0
	}
	u := (x - inset) / (1 - 2*inset)
	v := (y - inset) / (1 - 2*inset)
	if inBars(u, v) {
		return [3]float64{1, 1, 1}, 1
	}
	// #3b82f6 at the top left to #1e3a8a at the bottom right.
	t := (u + v) / 2
	top, bottom := [3]float64{0x3b, 0x82, 0xf6}, [3]float64{0x1e, 0x3a, 0x8a}
	var c [3]float64
	for i := range c {
		c[i] = (top[i] + (bottom[i]-top[i])*t) / 255
	}
	return c, 1
}

// inRoundRect reports whether (x, y) lies in the square inset by inset from
// the unit square's edges with corners of radius r.
func inRoundRect(x, y, inset, r float64) bool {
	lo, hi := inset, 1-inset
	if x < lo || x > hi || y < lo || y > hi {
		return false
	}
	cx := math.Max(lo+r, math.Min(x, hi-r))
	cy := math.Max(lo+r, math.Min(y, hi-r))
	return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
}

// inBars reports whether (x, y) lies in one of the three level bars.
func inBars(x, y float64) bool {
	const w, bottom = 0.12, 0.74
	for _, bar := range []struct{ cx, top float64 }{{0.31, 0.46}, {0.5, 0.27}, {0.69, 0.54}} {
		if x >= bar.cx-w/2 && x <= bar.cx+w/2 && y >= bar.top && y <= bottom {
			return true
		}
	}
	return false
}
