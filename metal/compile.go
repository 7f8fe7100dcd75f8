package metal

import (
	"os"
)

// Shim functions of compile.cpp.
var (
	// int lmx_swiglu(lmx_array* out, lmx_array gate, lmx_array x);
	fnSwiGLU uintptr
	// int lmx_geglu(lmx_array* out, lmx_array gate, lmx_array x);
	fnGeGLU uintptr
	// int lmx_set_compile(int32_t enabled);
	fnSetCompile uintptr
)

var compileSyms = []sym{
	{"lmx_swiglu", &fnSwiGLU}, {"lmx_geglu", &fnGeGLU}, {"lmx_set_compile", &fnSetCompile},
}

func loadCompile(lib uintptr) error { return bindSyms(lib, compileSyms) }

// SwiGLU returns silu(gate)·x (mlx_lm's activations.swiglu) as one fused
// kernel; with compilation off it is the same three ops, unfused.
func SwiGLU(gate, x *Array) *Array { return glu(fnSwiGLU, "swiglu", gate, x) }

// GeGLU returns gelu_approx(gate)·x, the tanh approximation of GELU gating
// a feed-forward (Gemma), as one fused kernel.
func GeGLU(gate, x *Array) *Array { return glu(fnGeGLU, "geglu", gate, x) }

func glu(fn uintptr, op string, gate, x *Array) *Array {
	if !usable(gate, x) {
		return &Array{}
	}
	r := call(fn, outp(), gate.h, x.h)
	return ret(op, r)
}

// CompileEnv is the environment variable that, set to "0", turns MLX's
// compilation (kernel fusion) off for the process, e.g. to rule it out
// when chasing a numerical difference or a missing C++ compiler on CPU.
const CompileEnv = "LMX_COMPILE"

// SetCompile turns MLX's compilation on or off for the whole process; the
// fused functions then run unfused. Must run inside Do.
func SetCompile(enabled bool) error {
	mustInDo()
	return setCompile(enabled)
}

func setCompile(enabled bool) error {
	r := call(fnSetCompile, b2u(enabled))
	if !status(r) {
		return lastError("set_compile")
	}
	return nil
}

// compileByEnv reports the setting CompileEnv asks for (on unless "0").
func compileByEnv() bool { return os.Getenv(CompileEnv) != "0" }

// compileFromEnv applies CompileEnv once, on the MLX thread when it starts.
func compileFromEnv() {
	if !compileByEnv() {
		_ = setCompile(false) // cannot fail: MLX only stores the mode
	}
}
