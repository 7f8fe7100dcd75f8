package metal

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ebitengine/purego"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestLoadMissingLibrary runs in a child process: Load is idempotent, so a
// process that already loaded MLX cannot observe the failure.
func TestLoadMissingLibrary(t *testing.T) {
	if os.Getenv("LMX_TEST_LOAD_MISSING") == "1" {
		checkLoadMissing(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadMissingLibrary$", "-test.v")
	cmd.Env = append(os.Environ(), "LMX_TEST_LOAD_MISSING=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestLoadMissingLibrary") {
		t.Fatalf("child test failed: %v\n%s", err, out)
	}
}

func checkLoadMissing(t *testing.T) {
	empty := t.TempDir()
	t.Run("explicit dir", func(t *testing.T) {
		err := Load(empty)
		var le *LoadError
		if !errors.As(err, &le) {
			t.Fatalf("Load(empty) = %v, want *LoadError", err)
		}
		want := filepath.Join(empty, libName("lmxshim"))
		if len(le.Searched) != 1 || le.Searched[0] != want {
			t.Fatalf("Searched = %v, want [%s]", le.Searched, want)
		}
		for _, s := range []string{want, "build/mlx.sh"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %q", err, s)
			}
		}
	})
	t.Run("search order", func(t *testing.T) {
		t.Setenv("LMX_MLX_LIB", empty)
		t.Chdir(empty) // outside the repository: build/lib is not found
		var le *LoadError
		if err := Load(""); !errors.As(err, &le) {
			t.Fatalf("Load(\"\") = %v, want *LoadError", err)
		}
		exe, _ := os.Executable()
		exeDir := filepath.Dir(exe)
		want := []string{empty, exeDir, filepath.Join(exeDir, "lib"), filepath.Join(exeDir, "..", "Frameworks")}
		if len(le.Searched) != len(want) {
			t.Fatalf("Searched = %v, want folders %v", le.Searched, want)
		}
		for i, d := range want {
			if le.Searched[i] != filepath.Join(d, libName("lmxshim")) {
				t.Errorf("Searched[%d] = %s, want in %s", i, le.Searched[i], d)
			}
		}
	})
	t.Run("not loaded", func(t *testing.T) {
		if Loaded() {
			t.Fatal("Loaded() after failed loads")
		}
		if err := Do(context.Background(), func() error { return nil }); !errors.Is(err, ErrNotLoaded) {
			t.Fatalf("Do = %v, want ErrNotLoaded", err)
		}
		if ActiveMemory() != 0 || GPUAvailable() {
			t.Fatal("memory or device facts without a runtime")
		}
	})
}

func TestLoadFindsRepoBuild(t *testing.T) {
	requireMLX(t)
	want := filepath.Join(testutil.RepoRoot(t), "build", "lib")
	if os.Getenv("LMX_MLX_LIB") == "" && LibDir() != want {
		t.Fatalf("LibDir() = %s, want %s", LibDir(), want)
	}
	if Version() != "0.32.4" {
		t.Fatalf("Version() = %q, want the pinned 0.32.4", Version())
	}
}

// TestShimSymbolsResolve checks every function the header declares: the
// shim exports it and the Go side binds it.
func TestShimSymbolsResolve(t *testing.T) {
	requireMLX(t)
	header, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "metal", "shim", "lmxshim.h"))
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`LMX_API[^;(]*?\b(lmx_\w+)\(`).FindAllSubmatch(header, -1)
	if len(names) < 50 {
		t.Fatalf("found only %d declarations in lmxshim.h", len(names))
	}
	bound := map[string]uintptr{}
	for _, table := range [][]sym{arraySyms, opsSyms, shapeSyms, fastSyms, compileSyms, quantSyms, randomSyms, ioSyms, memorySyms, distSyms} {
		for _, s := range table {
			bound[s.name] = *s.fn
		}
	}
	lib, err := purego.Dlopen(filepath.Join(LibDir(), libName("lmxshim")), purego.RTLD_NOW)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range names {
		name := string(m[1])
		p, err := purego.Dlsym(lib, name)
		if err != nil || p == 0 {
			t.Errorf("%s: not exported by the shim: %v", name, err)
		}
		if bound[name] != p {
			t.Errorf("%s: Go binding %#x, shim %#x", name, bound[name], p)
		}
		delete(bound, name)
	}
	for name := range bound {
		t.Errorf("%s: bound in Go but not declared in lmxshim.h", name)
	}
}
