package grammar

import (
	"runtime"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// The C structs of llguidance.h (1.9.1), laid out as the C compiler does on
// LP64 (linux/amd64, linux/arm64, darwin/arm64): Go's natural alignment
// gives the same offsets; the explicit padding fields only make them visible.

// parserLimits is LlgParserLimits (56 bytes).
type parserLimits struct {
	maxItemsInRow     uintptr // size_t
	initialLexerFuel  uint64
	stepLexerFuel     uint64
	stepMaxItems      uintptr // size_t
	maxLexerStates    uintptr // size_t
	maxGrammarSize    uintptr // size_t
	precomputeLexemes bool
	verboseErrors     bool
	_                 [6]byte
}

// constraintInit is LlgConstraintInit (80 bytes).
type constraintInit struct {
	tokenizer      uintptr // const LlgTokenizer *
	logBufferLevel uint32
	logStderrLevel uint32
	ffTokensOK     bool
	backtrackOK    bool
	_              [6]byte
	limits         parserLimits
}

// tokenizerInitV2 is LlgTokenizerInitV2 (96 bytes).
type tokenizerInitV2 struct {
	structSize            uintptr // size_t, = sizeof
	vocabSize             uint32
	tokEOS                uint32
	tokenLens             uintptr // const uint32_t *
	tokenBytes            uintptr // const uint8_t *
	tokenizerJSON         uintptr // const char *
	tokenizeAssumesString bool
	_                     [7]byte
	tokenizeFn            uintptr // LlgTokenizeFn
	useApproximateGreedy  bool
	_                     [7]byte
	tokenizeUserData      uintptr // const void *
	slices                uintptr // const char *const *
	tokEOSExtra           uintptr // const LlgToken *
	tokEOSExtraCount      uint32
	_                     [4]byte
}

// invalidToken is llguidance's INVALID_TOKEN (no EOS).
const invalidToken = ^uint32(0)

// call invokes a library function with integer/pointer arguments (purego's
// fast path; see DESIGN.md on FFI cost).
func call(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

// ok reads a C int32_t status: 0 is success (the register's upper half is
// undefined).
func ok(r uintptr) bool { return int32(r) == 0 }

// cbool reads a C bool return value (only the low byte is defined).
func cbool(r uintptr) bool { return uint8(r) != 0 }

// pin returns v's address for a library call, pinned by p until p.Unpin:
// pinning makes v escape to the heap (a goroutine stack can move while a
// uintptr to it is held) and keeps the GC from freeing it during the call.
func pin[T any](p *runtime.Pinner, v *T) uintptr {
	p.Pin(v)
	return uintptr(unsafe.Pointer(v))
}

// cString returns a NUL-terminated copy of s.
func cString(s string) []byte { return append([]byte(s), 0) }

// goString copies the NUL-terminated C string at p ("" for NULL).
func goString(p uintptr) string {
	if p == 0 {
		return ""
	}
	// Reinterpret rather than convert: p is C memory, not a Go pointer.
	c := *(*unsafe.Pointer)(unsafe.Pointer(&p))
	var n int
	for *(*byte)(unsafe.Add(c, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(c), n))
}

// bufString returns the NUL-terminated text at the start of buf.
func bufString(buf []byte) string {
	if i := strings.IndexByte(string(buf), 0); i >= 0 {
		return string(buf[:i])
	}
	return string(buf)
}
