package checkpoint

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// ErrCorruptWeights marks a safetensors file whose header or size is wrong.
var ErrCorruptWeights = errors.New("corrupt safetensors file")

// MaxHeaderBytes bounds the JSON header so a garbage length cannot make us
// allocate gigabytes (real headers are well under 100 MB).
const MaxHeaderBytes = 100 << 20

// TensorInfo describes one tensor of a safetensors file.
type TensorInfo struct {
	Dtype   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// Header is the parsed header of a safetensors file.
type Header struct {
	Path string
	// DataOffset is where the tensor data begins in the file (the tensors'
	// offsets count from here).
	DataOffset int64
	Tensors    map[string]TensorInfo
	Metadata   map[string]string
}

// dtypeSizes are the bytes per element of the safetensors dtypes.
var dtypeSizes = map[string]int64{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
	"U16": 2, "I16": 2, "F16": 2, "BF16": 2,
	"U32": 4, "I32": 4, "F32": 4,
	"U64": 8, "I64": 8, "F64": 8, "C64": 8,
}

// ReadHeader reads and validates the header of a safetensors file: the 8-byte
// little-endian length, the JSON, and every tensor's byte range against the
// file size, so a truncated download fails here with a clear error.
func ReadHeader(path string) (*Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat weights: %w", err)
	}
	raw, err := readHeaderJSON(f, st.Size(), path)
	if err != nil {
		return nil, err
	}
	h, err := decodeHeader(raw, path)
	if err != nil {
		return nil, err
	}
	h.DataOffset = 8 + int64(len(raw))
	return h, h.checkRanges(st.Size() - h.DataOffset)
}

// readHeaderJSON reads the length prefix and the JSON bytes after it.
func readHeaderJSON(r io.Reader, size int64, path string) ([]byte, error) {
	var n uint64
	if size < 8 {
		return nil, fmt.Errorf("%s: %w: %d bytes, shorter than the 8-byte header length", path, ErrCorruptWeights, size)
	}
	if err := binary.Read(r, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("%s: read header length: %w", path, err)
	}
	if n > MaxHeaderBytes || int64(n) > size-8 {
		return nil, fmt.Errorf("%s: %w: header length %d exceeds the file (%d bytes)", path, ErrCorruptWeights, n, size)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("%s: read header: %w", path, err)
	}
	return raw, nil
}

// decodeHeader splits the JSON into tensors and the __metadata__ entry.
func decodeHeader(raw []byte, path string) (*Header, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("%s: %w: header is not JSON: %v", path, ErrCorruptWeights, err)
	}
	h := &Header{Path: path, Tensors: map[string]TensorInfo{}, Metadata: map[string]string{}}
	for name, v := range fields {
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &h.Metadata); err != nil {
				return nil, fmt.Errorf("%s: %w: bad __metadata__: %v", path, ErrCorruptWeights, err)
			}
			continue
		}
		var ti TensorInfo
		if err := json.Unmarshal(v, &ti); err != nil {
			return nil, fmt.Errorf("%s: %w: tensor %q: %v", path, ErrCorruptWeights, name, err)
		}
		h.Tensors[name] = ti
	}
	return h, nil
}

// checkRanges verifies each tensor's size and that all ranges fit in dataLen.
func (h *Header) checkRanges(dataLen int64) error {
	names := sortedKeys(h.Tensors)
	sort.SliceStable(names, func(i, j int) bool {
		return h.Tensors[names[i]].Offsets[0] < h.Tensors[names[j]].Offsets[0]
	})
	var prevEnd int64
	prev := ""
	for _, name := range names {
		ti := h.Tensors[name]
		size, ok := dtypeSizes[ti.Dtype]
		if !ok {
			return fmt.Errorf("%s: %w: tensor %q has unknown dtype %q", h.Path, ErrCorruptWeights, name, ti.Dtype)
		}
		want, ok := byteSize(ti.Shape, size)
		if !ok {
			return fmt.Errorf("%s: %w: tensor %q has an impossible shape %v", h.Path, ErrCorruptWeights, name, ti.Shape)
		}
		start, end := ti.Offsets[0], ti.Offsets[1]
		if start < 0 || end < start || end-start != want {
			return fmt.Errorf("%s: %w: tensor %q spans bytes [%d, %d), want %d bytes for %s%v",
				h.Path, ErrCorruptWeights, name, start, end, want, ti.Dtype, ti.Shape)
		}
		if end > dataLen {
			return fmt.Errorf("%s: %w: tensor %q ends at byte %d but the file holds %d data bytes (truncated download?)",
				h.Path, ErrCorruptWeights, name, end, dataLen)
		}
		if want > 0 {
			if start < prevEnd {
				return fmt.Errorf("%s: %w: tensors %q and %q overlap (bytes from %d)", h.Path, ErrCorruptWeights, prev, name, start)
			}
			prevEnd, prev = end, name
		}
	}
	return nil
}

// byteSize is the bytes of a tensor of shape with elemSize-byte elements;
// false for a negative dimension or a size past what an int64 holds.
func byteSize(shape []int, elemSize int64) (int64, bool) {
	n := elemSize
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > math.MaxInt64/int64(d) {
			return 0, false
		}
		n *= int64(d)
	}
	return n, true
}

// DtypeSizes returns the bytes per element of every safetensors dtype the
// reader accepts (a copy).
func DtypeSizes() map[string]int64 {
	out := make(map[string]int64, len(dtypeSizes))
	for k, v := range dtypeSizes {
		out[k] = v
	}
	return out
}

// Elements is the number of elements of the tensor.
func (t TensorInfo) Elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}
