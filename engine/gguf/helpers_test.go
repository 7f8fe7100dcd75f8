package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// runPy runs a script of testdata with the project's Python, which must
// have gguf-py (the pinned gguf package); without it the test is skipped,
// or fails under LMX_REQUIRE_PY=1. It returns the script's stdout.
func runPy(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	py := testutil.Python(t)
	if py == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python venv with gguf-py (run build/setup.sh py or set LMX_PYTHON)")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(py, append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if strings.Contains(stderr.String(), "No module named 'gguf'") {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "the Python venv lacks gguf-py (run build/setup.sh py)")
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", script, args, err, stderr.Bytes())
	}
	return out
}

// readFloats reads a little-endian float32 file.
func readFloats(t testing.TB, path string) []float32 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// sameBits fails unless got and want hold the same float32 bit patterns
// (NaN and infinity included: a reference holding one is itself an error).
func sameBits(t testing.TB, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range want {
		if nonFinite(want[i]) || nonFinite(got[i]) {
			t.Fatalf("%s: value %d is %g (want %g): not finite", what, i, got[i], want[i])
		}
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			if bad++; bad <= 5 {
				t.Errorf("%s: value %d is %g (bits %08x), want %g (bits %08x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d values differ", what, bad, len(want))
	}
}

// sameValues fails unless got and want hold equal float32 values: bits
// may differ only in the sign of a zero (MLX's scale·q + bias gives +0
// where ggml's d·(q − 8) gives −0 for a negative d).
func sameValues(t testing.TB, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	bad := 0
	for i := range want {
		if nonFinite(want[i]) || nonFinite(got[i]) {
			t.Fatalf("%s: value %d is %g (want %g): not finite", what, i, got[i], want[i])
		}
		if got[i] != want[i] {
			if bad++; bad <= 5 {
				t.Errorf("%s: value %d is %g, want %g", what, i, got[i], want[i])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d values differ", what, bad, len(want))
	}
}

// relErr is ‖got−want‖/‖want‖, failing the test on a length mismatch or a
// value that is not finite.
func relErr(t testing.TB, what string, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var diff, norm float64
	for i := range want {
		if nonFinite(want[i]) || nonFinite(got[i]) {
			t.Fatalf("%s: value %d is %g (want %g): not finite", what, i, got[i], want[i])
		}
		d := float64(got[i]) - float64(want[i])
		diff += d * d
		norm += float64(want[i]) * float64(want[i])
	}
	if norm == 0 {
		t.Fatalf("%s: the reference is all zeros", what)
	}
	return math.Sqrt(diff / norm)
}

func nonFinite(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }

// ggufBuilder writes GGUF bytes by hand, for files gguf-py refuses to write
// (bad ones).
type ggufBuilder struct {
	bytes.Buffer
}

func (b *ggufBuilder) u32(v uint32) *ggufBuilder {
	binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}

func (b *ggufBuilder) u64(v uint64) *ggufBuilder {
	binary.Write(&b.Buffer, binary.LittleEndian, v)
	return b
}

func (b *ggufBuilder) str(s string) *ggufBuilder {
	b.u64(uint64(len(s)))
	b.WriteString(s)
	return b
}

// header writes magic, version and counts.
func (b *ggufBuilder) header(version uint32, tensors, kvs uint64) *ggufBuilder {
	b.WriteString("GGUF")
	return b.u32(version).u64(tensors).u64(kvs)
}

// kvString writes a string metadata pair.
func (b *ggufBuilder) kvString(key, val string) *ggufBuilder {
	return b.str(key).u32(uint32(vString)).str(val)
}

// tensorInfo writes one tensor directory entry.
func (b *ggufBuilder) tensorInfo(name string, typ Type, offset uint64, dims ...uint64) *ggufBuilder {
	b.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		b.u64(d)
	}
	return b.u32(uint32(typ)).u64(offset)
}

// pad aligns the buffer to 32 bytes (the default alignment).
func (b *ggufBuilder) pad() *ggufBuilder {
	for b.Len()%defaultAlignment != 0 {
		b.WriteByte(0)
	}
	return b
}

// write saves the bytes as dir/name and returns the path.
func (b *ggufBuilder) write(t testing.TB, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustOpen opens a GGUF file, failing the test on error.
func mustOpen(t testing.TB, path string) *File {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// describe renders a value with its Go type, for failure messages.
func describe(v any) string { return fmt.Sprintf("%T(%v)", v, v) }
