// Package metal is LMX's binding to Apple's MLX engine: it loads libmlx and
// the project's C ABI shim (metal/shim) with purego, runs every MLX call on
// one locked OS thread (Do), and exposes arrays, ops, fast transformer
// kernels, quantization, safetensors I/O, memory counters and devices.
//
// Ownership: arrays created inside Do belong to the innermost scope and are
// freed together when it ends, unless Keep() hands them to the caller.
// Errors: ops never return errors; the first MLX failure in a Do call sticks
// and Do returns it.
package metal

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/ebitengine/purego"
)

// LoadError reports that the MLX runtime could not be loaded; it names every
// library path that was tried.
type LoadError struct {
	// Searched lists the shim paths tried, in order.
	Searched []string
	// Err is the last dlopen or symbol error, or nil when nothing was found.
	Err error
}

// Error says what was searched and how to build the runtime.
func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("mlx runtime not loaded")
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	fmt.Fprintf(&b, "; searched %s", strings.Join(e.Searched, ", "))
	b.WriteString(" (build it with `make mlx` or build/mlx.sh, or set LMX_MLX_LIB to the folder holding it)")
	return b.String()
}

// Unwrap returns the underlying error.
func (e *LoadError) Unwrap() error { return e.Err }

var (
	loadMu sync.Mutex
	loaded bool
	libDir string
)

// Load opens the shim and, through it, libmlx. With dir == "" it searches, in order:
// $LMX_MLX_LIB, the executable's folder, <exe>/lib, <exe>/../Frameworks (the
// macOS app bundle), and build/lib of the LMX repository holding the working
// directory. Idempotent; safe from any goroutine; never panics.
func Load(dir string) error {
	loadMu.Lock()
	defer loadMu.Unlock()
	if loaded {
		return nil
	}
	dirs := []string{dir}
	if dir == "" {
		dirs = searchDirs()
	}
	found, err := openFirst(dirs)
	if err != nil {
		return err
	}
	loaded, libDir = true, found
	return nil
}

// Loaded reports whether Load succeeded.
func Loaded() bool {
	loadMu.Lock()
	defer loadMu.Unlock()
	return loaded
}

// LibDir returns the folder the runtime was loaded from ("" before Load).
func LibDir() string {
	loadMu.Lock()
	defer loadMu.Unlock()
	return libDir
}

func libName(base string) string {
	if runtime.GOOS == "darwin" {
		return "lib" + base + ".dylib"
	}
	return "lib" + base + ".so"
}

func searchDirs() []string {
	var dirs []string
	if d := os.Getenv("LMX_MLX_LIB"); d != "" {
		dirs = append(dirs, d)
	}
	if exe, err := os.Executable(); err == nil {
		exeDir := filepath.Dir(exe)
		dirs = append(dirs, exeDir, filepath.Join(exeDir, "lib"),
			filepath.Join(exeDir, "..", "Frameworks"))
	}
	if root := repoRoot(); root != "" {
		dirs = append(dirs, filepath.Join(root, "build", "lib"))
	}
	return dirs
}

// repoRoot walks up from the working directory to the folder whose go.mod
// declares this module ("" when there is none).
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if isLMXModule(filepath.Join(dir, "go.mod")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isLMXModule(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == "github.com/lmx-app/lmx"
		}
	}
	return false
}

// openFirst loads the runtime from the first folder holding the shim; a
// folder that holds it but fails to load ends the search with that error.
func openFirst(dirs []string) (string, error) {
	le := &LoadError{}
	for _, d := range dirs {
		shim := filepath.Join(d, libName("lmxshim"))
		le.Searched = append(le.Searched, shim)
		if _, err := os.Stat(shim); err != nil {
			continue
		}
		if err := openShim(shim); err != nil {
			le.Err = err
			return "", le
		}
		return d, nil
	}
	return "", le
}

// openShim opens the shim, which brings libmlx in as its dependency: the
// shim's RPATH ($ORIGIN, or the unpacked CUDA wheel) says where libmlx and
// the BLAS libraries beside it are.
func openShim(shim string) error {
	lib, err := purego.Dlopen(shim, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return fmt.Errorf("dlopen %s: %w", shim, err)
	}
	return bindAll(lib)
}

// sym names a shim function and the variable holding its address.
type sym struct {
	name string
	fn   *uintptr
}

// bindSyms resolves every symbol of syms or reports the first missing one.
func bindSyms(lib uintptr, syms []sym) error {
	for _, s := range syms {
		p, err := purego.Dlsym(lib, s.name)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", s.name, err)
		}
		*s.fn = p
	}
	return nil
}

// loaders lists each API area's loadXxx; bindAll runs them all.
var loaders = []func(lib uintptr) error{
	loadArray, loadOps, loadShape, loadFast, loadCompile, loadQuant, loadRandom, loadIO, loadMemory, loadDist,
}

func bindAll(lib uintptr) error {
	var errs []error
	for _, l := range loaders {
		errs = append(errs, l(lib))
	}
	return errors.Join(errs...)
}
