package gguf

import (
	"errors"
	"math"
	"os"
	"runtime"
	"testing"
)

// FuzzGGUFHeader: Open on any file never panics, refuses with ErrNotGGUF,
// ErrCorrupt or ErrUnsupported, and what it accepts is safe to import: each
// tensor has 1..4 positive dimensions, whole blocks per row, a data range
// inside the file (ReadTensor returns exactly Bytes() bytes), and the data
// section starts aligned after the header.
func FuzzGGUFHeader(f *testing.F) {
	var b ggufBuilder
	b.header(3, 1, 1).kvString("general.architecture", "llama").tensorInfo("t", TypeF32, 0, 4).pad()
	b.Write(make([]byte, 16))
	f.Add(b.Bytes())
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		fh, err := os.CreateTemp(dir, "*.gguf")
		if err != nil {
			t.Fatal(err)
		}
		_, err = fh.Write(data)
		fh.Close()
		defer os.Remove(fh.Name())
		if err != nil {
			t.Fatal(err)
		}
		gf, err := Open(fh.Name())
		if err != nil {
			if !errors.Is(err, ErrNotGGUF) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("%q: error %v is none of the package's errors", data, err)
			}
			return
		}
		checkAccepted(t, gf, data)
	})
}

// checkAccepted verifies the invariants of an accepted file.
func checkAccepted(t *testing.T, gf *File, data []byte) {
	if gf.Alignment <= 0 || gf.DataOffset%gf.Alignment != 0 || gf.DataOffset < 24 {
		t.Fatalf("%q: data offset %d, alignment %d", data, gf.DataOffset, gf.Alignment)
	}
	for _, ti := range gf.Tensors {
		if len(ti.Dims) < 1 || len(ti.Dims) > maxDims {
			t.Fatalf("%q: tensor %q dims %v", data, ti.Name, ti.Dims)
		}
		for _, d := range ti.Dims {
			if d <= 0 {
				t.Fatalf("%q: tensor %q dims %v", data, ti.Name, ti.Dims)
			}
		}
		if ti.Dims[0]%ti.Type.BlockSize() != 0 {
			t.Fatalf("%q: tensor %q rows of %d, block %d", data, ti.Name, ti.Dims[0], ti.Type.BlockSize())
		}
		n := ti.Bytes()
		if n < 0 || ti.Offset < 0 || gf.DataOffset+ti.Offset+n > int64(len(data)) {
			t.Fatalf("%q: tensor %q [%d, +%d) beyond %d bytes", data, ti.Name, gf.DataOffset+ti.Offset, n, len(data))
		}
		got, err := gf.ReadTensor(ti)
		if err != nil || int64(len(got)) != n {
			t.Fatalf("%q: read tensor %q: %d bytes, %v", data, ti.Name, len(got), err)
		}
	}
}

// TestGGUFHugeCountsNotAllocated: counts and lengths of 2^60 (tensors,
// metadata pairs, a string, an array) are refused before anything that
// size is allocated.
func TestGGUFHugeCountsNotAllocated(t *testing.T) {
	huge := uint64(1) << 60
	cases := map[string]*ggufBuilder{
		"tensor count":   new(ggufBuilder).header(3, huge, 0),
		"metadata count": new(ggufBuilder).header(3, 0, huge),
		"key length":     new(ggufBuilder).header(3, 0, 1).u64(huge),
		"string value":   new(ggufBuilder).header(3, 0, 1).str("k").u32(uint32(vString)).u64(huge),
		"array length":   new(ggufBuilder).header(3, 0, 1).str("k").u32(uint32(vArray)).u32(uint32(vUint8)).u64(huge),
		"max array":      new(ggufBuilder).header(3, 0, 1).str("k").u32(uint32(vArray)).u32(uint32(vUint64)).u64(math.MaxUint64),
		"tensor dims":    new(ggufBuilder).header(3, 1, 0).str("t").u32(2).u64(huge).u64(huge).u32(uint32(TypeF32)).u64(0),
	}
	for name, b := range cases {
		b.Write(make([]byte, 64))
		path := b.write(t, t.TempDir(), "huge.gguf")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Open(path)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s of 2^60: err %v, want ErrCorrupt", name, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s of 2^60: allocated %d bytes before refusing", name, grew)
		}
	}
}
