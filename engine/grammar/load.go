// Package grammar constrains generation to a JSON Schema or a Lark grammar
// with llguidance (guidance-ai/llguidance, Rust, MIT), loaded with purego
// from build/lib beside the MLX shim (build/llguidance.sh builds it).
//
// The cycle per sequence: NewTokenizer once per model, Validate the request's
// Spec before generating, NewMatcher, then per step FillMask (or FillMasks
// for a batch), sample from the allowed tokens, Consume the sampled token;
// the sequence may end when IsAccepting and must end when IsStopped.
//
// Whitespace: JSON Schema and JSONObject specs are compiled with
// llguidance's x-guidance options {"whitespace_flexible": false,
// "item_separator": ",", "key_separator": ":"}, so the output is compact JSON
// with no whitespace between tokens at all: a small model cannot loop on
// spaces or newlines, and every mask step makes progress toward the end of
// the value. Whitespace inside strings is the schema's business (maxLength
// bounds it). A schema that sets "x-guidance" itself keeps its own options.
// In Lark specs, %json{...} blocks use llguidance's defaults (flexible
// whitespace) unless the block carries the same options: build them with
// InlineJSON.
//
// Properties are generated in the order the schema lists them (llguidance's
// rule), and oneOf is approximated by anyOf (coerce_one_of): the output
// satisfies at least one branch. Keywords llguidance does not implement
// (not, if/then/else, dependencies, uniqueItems, unknown formats, regex
// look-around) make the schema an error that names them, never a silently
// looser constraint.
//
// Limits: a spec over MaxSpecBytes, a grammar over 20k symbols, a schema that
// requires itself with no base case (checkFinite), or one whose first mask
// is empty is refused when compiled, in at most about a second.
//
// Threading: a Tokenizer is safe for concurrent use; a Matcher is not (one
// goroutine at a time), but different matchers run in parallel (FillMasks).
// The library never needs the MLX thread.
package grammar

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/ebitengine/purego"
	"github.com/lmx-app/lmx/metal"
)

// Version is the llguidance release build/llguidance.sh pins; the loaded
// library must report the same major.minor.
const Version = "1.9.1"

// ErrUnavailable matches (errors.Is) every error that says the library could
// not be loaded.
var ErrUnavailable = errors.New("llguidance not available")

var (
	loadOnce sync.Once
	loadErr  error
)

// Available loads the library on first use (from the folder metal.Load finds
// the MLX shim in: $LMX_MLX_LIB, beside the executable, or build/lib) and
// reports why it cannot be used, or nil.
func Available() error {
	loadOnce.Do(func() { loadErr = load() })
	return loadErr
}

func libFile() string {
	if runtime.GOOS == "darwin" {
		return "libllguidance.dylib"
	}
	return "libllguidance.so"
}

func load() error {
	if err := metal.Load(""); err != nil {
		return fmt.Errorf("%w: it lives beside the MLX shim, which was not found: %v", ErrUnavailable, err)
	}
	path := filepath.Join(metal.LibDir(), libFile())
	lib, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return fmt.Errorf("%w: dlopen %s: %v (build it with `make grammar` or build/llguidance.sh)", ErrUnavailable, path, err)
	}
	if err := bindAll(lib); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, path, err)
	}
	return checkVersion(path)
}

// checkVersion refuses a library of another major.minor than Version: the
// C structs this package lays out are those of that release.
func checkVersion(path string) error {
	r, _, _ := purego.SyscallN(fnGetVersion)
	got := goString(r) // e.g. "llguidance@1.9.1 derivre@0.3.13 ..."
	want := "llguidance@" + Version[:strings.LastIndexByte(Version, '.')+1]
	if !strings.HasPrefix(got, want) {
		return fmt.Errorf("%w: %s reports %q, want llguidance %s (rebuild with build/llguidance.sh)", ErrUnavailable, path, got, Version)
	}
	return nil
}

// Library entry points, resolved by bindAll. Each C prototype is in
// llguidance.h of the pinned release.
var (
	// const char *llg_get_version(void);
	fnGetVersion uintptr
	// void llg_constraint_init_set_defaults(LlgConstraintInit *init, const LlgTokenizer *tokenizer);
	fnInitDefaults uintptr
	// LlgTokenizer *llg_new_tokenizer_v2(const LlgTokenizerInitV2 *init, char *err, size_t err_len);
	fnNewTokenizer uintptr
	// void llg_free_tokenizer(LlgTokenizer *tok);
	fnFreeTokenizer uintptr
	// LlgMatcher *llg_new_matcher(const LlgConstraintInit *init, const char *type, const char *data);
	fnNewMatcher uintptr
	// void llg_free_matcher(LlgMatcher *m);
	fnFreeMatcher uintptr
	// const char *llg_matcher_get_error(LlgMatcher *m);
	fnMatcherError uintptr
	// size_t llg_matcher_get_mask_byte_size(const LlgMatcher *m);
	fnMaskByteSize uintptr
	// int32_t llg_matcher_compute_mask_into(LlgMatcher *m, uint32_t *dst, size_t byte_len);
	fnComputeMaskInto uintptr
	// int32_t llg_matcher_consume_token(LlgMatcher *m, uint32_t token);
	fnConsumeToken uintptr
	// int32_t llg_matcher_validate_tokens(LlgMatcher *m, const uint32_t *tokens, size_t n);
	fnValidateTokens uintptr
	// int32_t llg_matcher_rollback(LlgMatcher *m, size_t n);
	fnRollback uintptr
	// bool llg_matcher_is_accepting(LlgMatcher *m);
	fnIsAccepting uintptr
	// bool llg_matcher_is_stopped(const LlgMatcher *m);
	fnIsStopped uintptr
	// bool llg_matcher_is_error(const LlgMatcher *m);
	fnIsError uintptr
)

func bindAll(lib uintptr) error {
	syms := []struct {
		name string
		fn   *uintptr
	}{
		{"llg_get_version", &fnGetVersion},
		{"llg_constraint_init_set_defaults", &fnInitDefaults},
		{"llg_new_tokenizer_v2", &fnNewTokenizer},
		{"llg_free_tokenizer", &fnFreeTokenizer},
		{"llg_new_matcher", &fnNewMatcher},
		{"llg_free_matcher", &fnFreeMatcher},
		{"llg_matcher_get_error", &fnMatcherError},
		{"llg_matcher_get_mask_byte_size", &fnMaskByteSize},
		{"llg_matcher_compute_mask_into", &fnComputeMaskInto},
		{"llg_matcher_consume_token", &fnConsumeToken},
		{"llg_matcher_validate_tokens", &fnValidateTokens},
		{"llg_matcher_rollback", &fnRollback},
		{"llg_matcher_is_accepting", &fnIsAccepting},
		{"llg_matcher_is_stopped", &fnIsStopped},
		{"llg_matcher_is_error", &fnIsError},
	}
	for _, s := range syms {
		p, err := purego.Dlsym(lib, s.name)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", s.name, err)
		}
		*s.fn = p
	}
	return nil
}
