package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
)

// writeFuzzFile writes b to a fresh file under dir.
func writeFuzzFile(t *testing.T, dir string, b []byte) string {
	f, err := os.CreateTemp(dir, "*.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// tensorBytes is dtype size × elements, with ok false when a dimension is
// negative or the product overflows int64.
func tensorBytes(size int64, shape []int) (int64, bool) {
	n := uint64(size)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return int64(n), true
}

// FuzzSafetensorsHeader: ReadHeader on any file never panics, refuses what
// it refuses with ErrCorruptWeights, and what it accepts is safe to load:
// every tensor has a known dtype, non-negative dimensions whose byte size
// fits in int64 and equals its data range, and the range lies inside the
// file. The accepted header survives a JSON round trip unchanged.
func FuzzSafetensorsHeader(f *testing.F) {
	f.Add(safetensorsFile(`{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`, 16))
	for _, header := range impossibleHeaders {
		f.Add(safetensorsFile(header, 16))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := writeFuzzFile(t, dir, b)
		defer os.Remove(path)
		h, err := ReadHeader(path)
		if err != nil {
			if !errors.Is(err, ErrCorruptWeights) {
				t.Fatalf("%q: error %v does not wrap ErrCorruptWeights", b, err)
			}
			return
		}
		n := binary.LittleEndian.Uint64(b)
		dataLen := int64(len(b)) - 8 - int64(n)
		for name, ti := range h.Tensors {
			want, ok := tensorBytes(dtypeSizes[ti.Dtype], ti.Shape)
			if _, known := dtypeSizes[ti.Dtype]; !known || !ok {
				t.Fatalf("%q: accepted tensor %q %s%v", b, name, ti.Dtype, ti.Shape)
			}
			if ti.Offsets[0] < 0 || ti.Offsets[1]-ti.Offsets[0] != want || ti.Offsets[1] > dataLen {
				t.Fatalf("%q: accepted tensor %q %s%v at %v with %d data bytes", b, name, ti.Dtype, ti.Shape, ti.Offsets, dataLen)
			}
		}
		roundTrip(t, h)
	})
}

// roundTrip writes h back as a safetensors header and reads it again.
func roundTrip(t *testing.T, h *Header) {
	fields := map[string]any{}
	if len(h.Metadata) > 0 {
		fields["__metadata__"] = h.Metadata
	}
	var data int64
	for name, ti := range h.Tensors {
		fields[name] = ti
		data = max(data, ti.Offsets[1])
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFuzzFile(t, filepath.Dir(h.Path), safetensorsFile(string(raw), int(data)))
	defer os.Remove(path)
	again, err := ReadHeader(path)
	if err != nil {
		t.Fatalf("accepted header %s does not read back: %v", raw, err)
	}
	if !reflect.DeepEqual(again.Tensors, h.Tensors) || len(again.Metadata) != len(h.Metadata) {
		t.Fatalf("round trip changed the header:\n %+v\n %+v", h, again)
	}
}

// safetensorsFile is a safetensors file: the header's length, the header
// and data zero bytes.
func safetensorsFile(header string, data int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, data)...)
}

// TestSafetensorsHugeHeaderNotAllocated: a header length of 2^60 (or any
// beyond the file) is refused before anything that size is allocated.
func TestSafetensorsHugeHeaderNotAllocated(t *testing.T) {
	for _, n := range []uint64{1 << 60, math.MaxUint64, 1 << 40, MaxHeaderBytes + 1, 1000} {
		b := binary.LittleEndian.AppendUint64(nil, n)
		b = append(b, `{"a":{}}`...)
		path := writeFuzzFile(t, t.TempDir(), b)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ReadHeader(path)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrCorruptWeights) {
			t.Errorf("header length %d: err %v, want ErrCorruptWeights", n, err)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("header length %d: allocated %d bytes before refusing", n, grew)
		}
	}
}

// impossibleHeaders are headers the fuzzer found accepted before the reader
// checked shapes and ranges: negative dimensions, a size that overflows, and
// two tensors over the same bytes.
var impossibleHeaders = map[string]string{
	"negative dimensions":  `{"a":{"dtype":"F32","shape":[-2,-2],"data_offsets":[0,16]}}`,
	"size overflows int64": `{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}`,
	"size overflows to 16": `{"a":{"dtype":"F32","shape":[4611686018427387908],"data_offsets":[0,16]}}`,
	"overlapping tensors":  `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`,
}

// TestReadHeaderRefusesImpossibleShapes: each impossible header is refused
// as corrupt weights, naming the problem.
func TestReadHeaderRefusesImpossibleShapes(t *testing.T) {
	dir := t.TempDir()
	for name, header := range impossibleHeaders {
		t.Run(name, func(t *testing.T) {
			path := writeFuzzFile(t, dir, safetensorsFile(header, 16))
			h, err := ReadHeader(path)
			if !errors.Is(err, ErrCorruptWeights) {
				t.Fatalf("ReadHeader = %+v, %v; want ErrCorruptWeights", h, err)
			}
		})
	}
}
