// Package darwin holds LMX.app's Info.plist and entitlements; its test keeps
// them, build/bundle-macos.sh and the runtime's loader in agreement, on any
// OS (the bundle itself is built on a Mac).
package darwin

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testutil"
)

// layout is build/bundle-macos.sh --print-layout, as key → values.
func layout(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(testutil.RepoRoot(t), "build", "bundle-macos.sh"), "--print-layout")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bundle-macos.sh --print-layout: %v", err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		m[k] = append(m[k], v)
	}
	return m
}

// plist parses a property list's top-level dict of strings and booleans.
func plist(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := xml.NewDecoder(f)
	dec.Strict = true
	out := map[string]string{}
	var key, text string
	depth := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			text = ""
			if depth == 3 && (tok.Name.Local == "true" || tok.Name.Local == "false") {
				out[key] = tok.Name.Local
			}
		case xml.CharData:
			text += string(tok)
		case xml.EndElement:
			if depth == 3 {
				switch tok.Name.Local {
				case "key":
					key = text
				case "string":
					out[key] = text
				}
			}
			depth--
		}
	}
	return out
}

func TestBundleScriptSyntax(t *testing.T) {
	script := filepath.Join(testutil.RepoRoot(t), "build", "bundle-macos.sh")
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n bundle-macos.sh: %v\n%s", err, out)
	}
	if runtime.GOOS != "darwin" {
		// Off macOS it must refuse at once, saying why.
		out, err := exec.Command("bash", script).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "is built on macOS") {
			t.Errorf("bundle-macos.sh on %s: %v, %s; want a clear refusal", runtime.GOOS, err, out)
		}
	}
}

func TestInfoPlist(t *testing.T) {
	root := testutil.RepoRoot(t)
	p := plist(t, filepath.Join(root, "build", "darwin", "Info.plist"))
	l := layout(t)
	for key, want := range map[string]string{
		"LSUIElement":             "true", // menu-bar app: no Dock icon
		"CFBundlePackageType":     "APPL",
		"CFBundleExecutable":      filepath.Base(l["executable"][0]),
		"CFBundleIconFile":        strings.TrimSuffix(l["icon"][0], ".icns"),
		"CFBundleIdentifier":      "app.lmx.LMX",
		"LSMinimumSystemVersion":  "14.0",
		"NSHighResolutionCapable": "true",
	} {
		if p[key] != want {
			t.Errorf("Info.plist %s = %q, want %q", key, p[key], want)
		}
	}
	for _, key := range []string{"CFBundleName", "CFBundleVersion", "CFBundleShortVersionString"} {
		if p[key] == "" {
			t.Errorf("Info.plist lacks %s", key)
		}
	}
	ent := plist(t, filepath.Join(root, "build", "darwin", "entitlements.plist"))
	if len(ent) != 0 {
		t.Errorf("entitlements take runtime exceptions %v: each needs a reason in the file and here", ent)
	}
}

// TestBundleLayoutLoadsTheRuntime lays out the bundle as bundle-macos.sh
// does — the executable in Contents/MacOS, the runtime libraries in the
// script's Frameworks folder — with this platform's builds (.so for .dylib),
// and runs it from outside the repository without LMX_MLX_LIB: the real
// loader must find MLX there, the only place it is. So the script's
// Frameworks path and the shim's and libmlx's names cannot drift from what
// metal.Load looks for (engine/grammar opens libllguidance from the folder
// metal.Load found).
func TestBundleLayoutLoadsTheRuntime(t *testing.T) {
	root := testutil.RepoRoot(t)
	lib := filepath.Join(root, "build", "lib")
	l := layout(t)
	if l["frameworks"][0] != "Contents/Frameworks" || l["executable"][0] != "Contents/MacOS/lmx" {
		t.Fatalf("layout %v", l)
	}
	ext := ".so"
	if runtime.GOOS == "darwin" {
		ext = ".dylib"
	}
	app := filepath.Join(t.TempDir(), l["app"][0])
	fw := filepath.Join(app, l["frameworks"][0])
	if err := os.MkdirAll(fw, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range l["framework"] {
		name := strings.TrimSuffix(f, ".dylib")
		if name == f { // mlx.metallib: Metal's kernels, beside libmlx on macOS only
			if runtime.GOOS == "darwin" {
				testutil.CopyFile(t, filepath.Join(lib, f), filepath.Join(fw, f))
			}
			continue
		}
		src := filepath.Join(lib, name+ext)
		if _, err := os.Stat(src); err != nil {
			testutil.Unavailable(t, "LMX_REQUIRE_MLX", "the runtime is not built in build/lib (build/mlx.sh, build/llguidance.sh): "+err.Error())
		}
		testutil.CopyFile(t, src, filepath.Join(fw, name+ext))
	}
	if runtime.GOOS != "darwin" {
		// The wheel's BLAS/LAPACK that libmlx.so needs beside it (Linux only).
		matches, _ := filepath.Glob(filepath.Join(lib, "lib*-*.so*"))
		for _, m := range matches {
			testutil.CopyFile(t, m, filepath.Join(fw, filepath.Base(m)))
		}
	}
	exe := filepath.Join(app, l["executable"][0])
	build := exec.Command("go", "build", "-o", exe, ".")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(exe, "serve", "--port", "0", "--data-dir", filepath.Join(dir, "data"))
	cmd.Dir = dir
	cmd.Env = append(withoutEnv("LMX_MLX_LIB"), "HF_HUB_CACHE="+filepath.Join(dir, "hub"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), " serving at "); ok {
				url <- u
			}
		}
	}()
	var base string
	select {
	case base = <-url:
	case <-time.After(60 * time.Second):
		t.Fatal("lmx serve printed no URL")
	}
	resp, err := http.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Engine struct {
			Available bool   `json:"available"`
			Error     string `json:"error"`
		} `json:"engine"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if !st.Engine.Available {
		t.Fatalf("the binary in %s did not load MLX from %s: %s", l["executable"][0], l["frameworks"][0], st.Engine.Error)
	}
}

// withoutEnv is the environment without the variable name.
func withoutEnv(name string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, name+"=") {
			env = append(env, kv)
		}
	}
	return env
}
