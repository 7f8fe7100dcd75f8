package metal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// stEntry is one tensor of a safetensors JSON header.
type stEntry struct {
	Dtype   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// readHeader parses a safetensors file independently of MLX: an 8-byte
// little-endian header length, the JSON header, then the data.
func readHeader(t *testing.T, path string) (map[string]stEntry, map[string]string, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(raw[:8])
	var header map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &header); err != nil {
		t.Fatalf("header of %s: %v", path, err)
	}
	entries, meta := map[string]stEntry{}, map[string]string{}
	for k, v := range header {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var e stEntry
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatal(err)
		}
		entries[k] = e
	}
	return entries, meta, raw[8+n:]
}

var stDtypes = map[string]Dtype{"F32": Float32, "F16": Float16, "BF16": BFloat16, "I32": Int32,
	"F64": Float64, "I64": Int64, "U32": Uint32, "U8": Uint8, "BOOL": Bool}

func TestSafetensorsRoundTripBitExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.safetensors")
	raw := map[string][]byte{}
	dtypes := map[string]Dtype{"f32": Float32, "f16": Float16, "bf16": BFloat16, "i32": Int32}
	meta := map[string]string{"format": "mlx", "note": "round trip"}
	do(t, func() error {
		arrays := map[string]*Array{}
		for name, dt := range dtypes {
			b := make([]byte, 6*dt.Size())
			for i := range b {
				b[i] = byte(i*37 + len(name)) // arbitrary bits, NaN patterns included
			}
			raw[name] = b
			arrays[name] = FromBytes(b, dt, 2, 3)
		}
		return SaveSafetensors(path, arrays, meta)
	})
	entries, gotMeta, data := readHeader(t, path)
	for name, dt := range dtypes {
		e := entries[name]
		if stDtypes[e.Dtype] != dt || !slices.Equal(e.Shape, []int{2, 3}) {
			t.Errorf("%s in file: %s %v, want %v [2 3]", name, e.Dtype, e.Shape, dt)
		}
		if !bytes.Equal(data[e.Offsets[0]:e.Offsets[1]], raw[name]) {
			t.Errorf("%s: file bytes differ from the array's", name)
		}
	}
	for k, v := range meta {
		if gotMeta[k] != v {
			t.Errorf("file metadata %s = %q, want %q", k, gotMeta[k], v)
		}
	}
	do(t, func() error {
		arrays, m, err := LoadSafetensors(path)
		if err != nil {
			return err
		}
		for name, dt := range dtypes {
			b, err := arrays[name].Bytes()
			if err != nil {
				return err
			}
			if arrays[name].Dtype() != dt || !bytes.Equal(b, raw[name]) {
				t.Errorf("%s loaded as %v with different bits", name, arrays[name].Dtype())
			}
		}
		if m["note"] != "round trip" {
			t.Errorf("loaded metadata %v", m)
		}
		return nil
	})
}

func TestLoadFixtureModelMatchesHeader(t *testing.T) {
	path := filepath.Join(testutil.Fixtures(t), "models", "llama", "model.safetensors")
	entries, _, data := readHeader(t, path)
	do(t, func() error {
		arrays, _, err := LoadSafetensors(path)
		if err != nil {
			return err
		}
		if len(arrays) != len(entries) {
			return fmt.Errorf("loaded %d arrays, header lists %d", len(arrays), len(entries))
		}
		for name, e := range entries {
			a := arrays[name]
			if a == nil {
				return fmt.Errorf("tensor %s missing", name)
			}
			if !slices.Equal(a.Shape(), e.Shape) || a.Dtype() != stDtypes[e.Dtype] {
				t.Errorf("%s: %v %v, header %v %s", name, a.Shape(), a.Dtype(), e.Shape, e.Dtype)
			}
			b, err := a.Bytes()
			if err != nil {
				return err
			}
			if !bytes.Equal(b, data[e.Offsets[0]:e.Offsets[1]]) {
				t.Errorf("%s: loaded bytes differ from the file", name)
			}
		}
		return nil
	})
}

func TestLoadSafetensorsMissingFile(t *testing.T) {
	do(t, func() error {
		_, _, err := LoadSafetensors(filepath.Join(t.TempDir(), "absent.safetensors"))
		if err == nil {
			t.Error("loading a missing file succeeded")
		}
		return Err() // I/O errors are returned, not sticky
	})
}
