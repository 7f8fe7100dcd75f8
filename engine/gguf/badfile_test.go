package gguf

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/convert"
)

// badFile is a file Import must refuse: the sentinel and the words the
// error must hold besides the file's path.
type badFile struct {
	name string
	data func(t *testing.T) []byte
	want error
	text string
}

// header3 starts a version 3 file with the given counts.
func header3(tensors, kvs uint64) *ggufBuilder {
	return new(ggufBuilder).header(3, tensors, kvs)
}

// withArch starts a version 3 file whose first pair names the architecture.
func withArch(tensors, kvs uint64, arch string) *ggufBuilder {
	return header3(tensors, kvs).kvString("general.architecture", arch)
}

// bytesOf wraps fixed bytes.
func bytesOf(b *ggufBuilder) func(*testing.T) []byte {
	return func(*testing.T) []byte { return b.Bytes() }
}

// craftedBadFiles are malformed files built byte by byte.
var craftedBadFiles = []badFile{
	{"empty", bytesOf(new(ggufBuilder)), ErrNotGGUF, "too short"},
	{"wrong magic", func(*testing.T) []byte { return append([]byte("GGML"), header3(0, 0).Bytes()[4:]...) }, ErrNotGGUF, `magic "GGML", want "GGUF"`},
	{"version 1", bytesOf(new(ggufBuilder).header(1, 0, 0)), ErrUnsupported, "unsupported GGUF version 1"},
	{"version 4", bytesOf(new(ggufBuilder).header(4, 0, 0)), ErrUnsupported, "unsupported GGUF version 4"},
	{"big-endian", bytesOf(new(ggufBuilder).header(3<<24, 0, 0)), ErrUnsupported, "big-endian"},
	{"truncated header", func(*testing.T) []byte { return header3(0, 0).Bytes()[:14] }, ErrCorrupt, "truncated at byte 8 reading tensor count"},
	{"absurd tensor count", bytesOf(header3(1<<60, 0)), ErrCorrupt, "tensor count 1152921504606846976"},
	{"absurd metadata count", bytesOf(header3(0, 1<<40)), ErrCorrupt, "metadata count 1099511627776"},
	{"absurd key length", bytesOf(header3(0, 1).u64(1 << 62).u64(0).u64(0)), ErrCorrupt, "length of metadata key"},
	{"absurd string length", bytesOf(header3(0, 1).str("k").u32(uint32(vString)).u64(1 << 50)), ErrCorrupt, "length of value of k"},
	{"absurd array length", bytesOf(header3(0, 1).str("k").u32(uint32(vArray)).u32(uint32(vUint32)).u64(1 << 40)), ErrCorrupt, "length of array k"},
	{"uint64 above int64", bytesOf(header3(0, 1).str("k").u32(uint32(vUint64)).u64(1 << 63)), ErrUnsupported, "above the largest int64"},
	{"unknown value type", bytesOf(header3(0, 1).str("k").u32(13).u64(0)), ErrCorrupt, "unknown value type 13"},
	{"bool out of range", bytesOf(header3(0, 1).str("k").u32(uint32(vBool)).u32(2)), ErrCorrupt, "bool \"k\" holds 2"},
	{"arrays nested too deep", func(*testing.T) []byte {
		b := header3(0, 1).str("k").u32(uint32(vArray))
		for range 12 {
			b.u32(uint32(vArray)).u64(1)
		}
		return b.u32(uint32(vUint8)).u64(1).Bytes()
	}, ErrCorrupt, "deeper than 8"},
	{"duplicate key", bytesOf(header3(0, 2).kvString("a", "x").kvString("a", "y")), ErrCorrupt, `duplicate metadata key "a"`},
	{"bad alignment", bytesOf(header3(0, 1).str("general.alignment").u32(uint32(vUint32)).u32(3)), ErrCorrupt, "general.alignment 3"},
	{"unknown tensor type", bytesOf(header3(1, 0).tensorInfo("w", Type(99), 0, 32)), ErrUnsupported, `tensor "w" has unknown tensor type 99`},
	{"too many dims", bytesOf(header3(1, 0).tensorInfo("w", TypeF32, 0, 1, 1, 1, 1, 1)), ErrCorrupt, "5 dimensions"},
	{"partial block", bytesOf(header3(1, 0).tensorInfo("w", TypeQ4_0, 0, 48)), ErrCorrupt, "not a multiple of the Q4_0 block size 32"},
	{"tensor larger than the file", bytesOf(header3(1, 0).tensorInfo("w", TypeF32, 0, 1<<40, 1<<20)), ErrCorrupt, "larger than the whole file"},
	{"misaligned offset", bytesOf(header3(1, 0).tensorInfo("w", TypeF32, 4, 8)), ErrCorrupt, "not a multiple of the alignment 32"},
	{"data past the end", bytesOf(withArch(1, 1, "llama").tensorInfo("w", TypeF32, 64, 16).pad().str("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde")),
		ErrCorrupt, `tensor "w" data [64, 128) runs past the end of the file`},
	{"duplicate tensor", bytesOf(header3(2, 0).tensorInfo("w", TypeF32, 0, 8).tensorInfo("w", TypeF32, 32, 8).pad().str(strings.Repeat("x", 56))), ErrCorrupt, `duplicate tensor "w"`},
	{"unknown architecture", bytesOf(withArch(0, 1, "mamba")), ErrUnsupported, `architecture "mamba" (supported: gemma3, llama, phi3, qwen2, qwen3)`},
	{"missing size", bytesOf(withArch(0, 1, "llama")), ErrCorrupt, `metadata "llama.block_count" is missing`},
}

// TestImportRefusesBadFiles checks that every malformed or unsupported
// file fails with an error naming the file and the problem, and leaves
// neither the output folder nor a temporary one behind.
func TestImportRefusesBadFiles(t *testing.T) {
	for _, tt := range craftedBadFiles {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "bad.gguf", tt.data(t))
			checkRefused(t, path, tt.want, tt.text)
		})
	}
}

// TestImportRefusesBadModels checks files llama.cpp's converter could
// write but that are cut short or hold what LMX cannot import.
func TestImportRefusesBadModels(t *testing.T) {
	good := fixtureGGUF(t, "llama", "F32")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, good)
	for _, tt := range []badFile{
		{"truncated metadata", func(*testing.T) []byte { return data[:300] }, ErrCorrupt, "truncated or corrupt file"},
		{"truncated tensor directory", func(*testing.T) []byte { return data[:f.DataOffset-40] }, ErrCorrupt, "larger than the whole file"},
		{"truncated data", func(*testing.T) []byte { return data[:len(data)-100] }, ErrCorrupt, "runs past the end of the file"},
		{"unsupported tensor type", func(t *testing.T) []byte {
			b, err := os.ReadFile(fixtureGGUF(t, "llama", "Q4_0,ffn_down=IQ4_NL"))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, ErrUnsupported, `tensor "blk.0.ffn_down.weight": unsupported GGUF file: tensor type IQ4_NL cannot be dequantized`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "bad.gguf", tt.data(t))
			checkRefused(t, path, tt.want, tt.text)
		})
	}
}

// checkRefused imports path into a fresh parent folder and checks the
// error and that the parent stays empty.
func checkRefused(t *testing.T, path string, want error, text string) {
	t.Helper()
	parent := t.TempDir()
	out := filepath.Join(parent, "out")
	err := Import(context.Background(), path, out, Options{})
	if err == nil {
		t.Fatal("import succeeded")
	}
	if !errors.Is(err, want) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), text) {
		t.Fatalf("error %q\nwant %v naming %s and %q", err, want, path, text)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("import left %d entries in %s (first %s)", len(entries), parent, entries[0].Name())
	}
	// The way the app and lmx generate import: into the data dir's cache.
	cache := t.TempDir()
	if _, err := Cached(context.Background(), path, cache); !errors.Is(err, want) || !strings.Contains(err.Error(), path) {
		t.Fatalf("cached import: error %v, want %v naming %s", err, want, path)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Fatalf("cached import left %d entries in the data dir's cache (first %s)", len(entries), entries[0].Name())
	}
}

// TestImportRefusesExistingFolder checks that an existing output folder is
// neither written into nor removed.
func TestImportRefusesExistingFolder(t *testing.T) {
	out := t.TempDir()
	keep := writeFile(t, out, "keep.txt", []byte("mine"))
	err := Import(context.Background(), filepath.Join(out, "missing.gguf"), out, Options{})
	if !errors.Is(err, convert.ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Fatalf("the existing folder changed: %q, %v", b, err)
	}
}
