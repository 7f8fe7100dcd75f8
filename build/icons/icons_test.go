package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// TestCommittedIconsAreGenerated fails when a committed icon is not this
// program's output (edited by hand, or the drawing changed without
// `go run ./build/icons`).
func TestCommittedIconsAreGenerated(t *testing.T) {
	root := testutil.RepoRoot(t)
	for _, o := range Outputs {
		want, err := Encode(Draw(o.Size, o.Style))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, o.Path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not build/icons' output: run `go run ./build/icons` from the repository root", o.Path)
		}
	}
}

// TestTemplateIconIsBlackAndAlpha checks the macOS rule for template images
// (only black and alpha), and that the glyph is actually there.
func TestTemplateIconIsBlackAndAlpha(t *testing.T) {
	f, err := os.Open(filepath.Join(testutil.RepoRoot(t), "app", "tray", "icon.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	opaque := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			if r|g|bl != 0 {
				t.Fatalf("pixel (%d,%d) is not black: %d %d %d", x, y, r, g, bl)
			}
			if a > 0xf000 {
				opaque++
			}
		}
	}
	if total := b.Dx() * b.Dy(); opaque*5 < total || opaque*2 > total {
		t.Errorf("%d of %d pixels opaque: not the outlined glyph", opaque, total)
	}
}

// TestIconset writes a macOS iconset and checks every size iconutil needs.
func TestIconset(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir); err != nil {
		t.Fatal(err)
	}
	for _, s := range IconsetSizes {
		f, err := os.Open(filepath.Join(dir, s.Name))
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil || cfg.Width != s.Px || cfg.Height != s.Px {
			t.Errorf("%s: %dx%d, %v; want %d px", s.Name, cfg.Width, cfg.Height, err, s.Px)
		}
	}
}
