package gguf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/lmx-app/lmx/engine/convert"
)

// metaCase is one metadata value gguf-py writes and the Go value Open must
// read back.
type metaCase struct {
	key, typ, sub string
	value, want   any
}

// metaCases cover every GGUF value type, arrays of each kind and arrays of
// arrays, in the Go types File.Metadata promises.
var metaCases = []metaCase{
	{"t.u8", "UINT8", "", 200, int64(200)},
	{"t.i8", "INT8", "", -100, int64(-100)},
	{"t.u16", "UINT16", "", 60000, int64(60000)},
	{"t.i16", "INT16", "", -30000, int64(-30000)},
	{"t.u32", "UINT32", "", uint32(4000000000), int64(4000000000)},
	{"t.i32", "INT32", "", -2000000000, int64(-2000000000)},
	{"t.u64", "UINT64", "", uint64(math.MaxInt64), int64(math.MaxInt64)},
	{"t.i64", "INT64", "", int64(math.MinInt64), int64(math.MinInt64)},
	{"t.f32", "FLOAT32", "", 0.1, float64(float32(0.1))},
	{"t.f64", "FLOAT64", "", 0.1, 0.1},
	{"t.true", "BOOL", "", true, true},
	{"t.false", "BOOL", "", false, false},
	{"t.str", "STRING", "", "héllo ✓ <|im_end|>", "héllo ✓ <|im_end|>"},
	{"t.empty", "STRING", "", "", ""},
	{"t.strs", "ARRAY", "STRING", []string{"a", "", "ü"}, []string{"a", "", "ü"}},
	{"t.u8s", "ARRAY", "UINT8", []int{1, 255}, []int64{1, 255}},
	{"t.i16s", "ARRAY", "INT16", []int{-5, 7}, []int64{-5, 7}},
	{"t.u32s", "ARRAY", "UINT32", []uint32{0, 4000000000}, []int64{0, 4000000000}},
	{"t.i64s", "ARRAY", "INT64", []int64{-1, 1 << 40}, []int64{-1, 1 << 40}},
	{"t.f32s", "ARRAY", "FLOAT32", []float64{0.5, -2.25, 0.1}, []float64{0.5, -2.25, float64(float32(0.1))}},
	{"t.f64s", "ARRAY", "FLOAT64", []float64{0.1, -1e300}, []float64{0.1, -1e300}},
	{"t.bools", "ARRAY", "BOOL", []bool{true, false}, []bool{true, false}},
	{"t.nested", "ARRAY", "ARRAY", [][]int{{1, 2}, {3}}, []any{[]int64{1, 2}, []int64{3}}},
	{"t.nested_strs", "ARRAY", "ARRAY", [][]string{{"a"}, {"b", "c"}}, []any{[]string{"a"}, []string{"b", "c"}}},
}

// TestOpenReadsWhatGGUFPyWrites writes a GGUF with gguf-py's GGUFWriter
// (every metadata type, four tensor types, alignment 64) and checks the
// metadata values and types, and each tensor's type, dims, offset and bytes
// against what gguf-py's GGUFReader reads.
func TestOpenReadsWhatGGUFPyWrites(t *testing.T) {
	dir := t.TempDir()
	spec := make([]map[string]any, len(metaCases))
	for i, c := range metaCases {
		spec[i] = map[string]any{"key": c.key, "type": c.typ, "sub": c.sub, "value": c.value}
	}
	specPath, path := filepath.Join(dir, "spec.json"), filepath.Join(dir, "t.gguf")
	if err := convert.WriteJSON(specPath, spec); err != nil {
		t.Fatal(err)
	}
	var want []struct {
		Name, Type, Sha256 string
		Dims               []int64
		Offset             int64
	}
	if err := json.Unmarshal(runPy(t, "gguf_ref.py", "write", specPath, path), &want); err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, path)
	if f.Version != 3 || f.Alignment != 64 || f.Metadata["general.architecture"] != "llama" {
		t.Fatalf("version %d, alignment %d, architecture %v", f.Version, f.Alignment, f.Metadata["general.architecture"])
	}
	for _, c := range metaCases {
		if got := f.Metadata[c.key]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %s, want %s", c.key, describe(got), describe(c.want))
		}
	}
	if len(f.Tensors) != len(want) {
		t.Fatalf("%d tensors, gguf-py reads %d", len(f.Tensors), len(want))
	}
	for i, w := range want {
		got := f.Tensors[i]
		data, err := f.ReadTensor(got)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got.Name != w.Name || got.Type.String() != w.Type || !reflect.DeepEqual(got.Dims, w.Dims) ||
			got.Offset != w.Offset || hex.EncodeToString(sum[:]) != w.Sha256 {
			t.Errorf("tensor %d: got %s %s %v at %d, gguf-py reads %s %s %v at %d (data equal: %v)", i,
				got.Name, got.Type, got.Dims, got.Offset, w.Name, w.Type, w.Dims, w.Offset, hex.EncodeToString(sum[:]) == w.Sha256)
		}
	}
}

// TestTensorInfoShape checks the row-major shape and byte size of a
// quantized tensor.
func TestTensorInfoShape(t *testing.T) {
	ti := TensorInfo{Name: "w", Type: TypeQ4_K, Dims: []int64{512, 3}}
	if got := ti.Shape(); !reflect.DeepEqual(got, []int{3, 512}) || ti.Bytes() != 3*2*144 || ti.Elements() != 1536 {
		t.Fatalf("shape %v, bytes %d, elements %d", got, ti.Bytes(), ti.Elements())
	}
}

// writeFile saves data in dir and returns the path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
