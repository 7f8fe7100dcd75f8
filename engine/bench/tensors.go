package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/lmx-app/lmx/engine/model"
)

// ErrTensor marks a tensor that is missing or not of the requested dtype.
var ErrTensor = errors.New("tensor not readable")

// Tensors reads float32 and int32 tensors of one safetensors file (the
// reference files of the fixtures and of mlx_lm_logits.py) without MLX.
type Tensors struct {
	header *model.Header
	data   []byte // the bytes after the header
}

// ReadTensors reads and validates the whole file at path into memory; the
// files it is meant for hold logits of small prompts (a few MB).
func ReadTensors(path string) (*Tensors, error) {
	h, err := model.ReadHeader(path)
	if err != nil {
		return nil, fmt.Errorf("read tensors: %w", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tensors: %w", err)
	}
	// ReadHeader checked the 8-byte length and that the header fits.
	n := binary.LittleEndian.Uint64(raw[:8])
	return &Tensors{header: h, data: raw[8+n:]}, nil
}

// Names lists the tensors of the file (unordered).
func (t *Tensors) Names() []string {
	names := make([]string, 0, len(t.header.Tensors))
	for name := range t.header.Tensors {
		names = append(names, name)
	}
	return names
}

// Metadata returns the file's __metadata__ entry for key ("" if absent).
func (t *Tensors) Metadata(key string) string { return t.header.Metadata[key] }

// Float32 returns the F32 tensor name and its shape.
func (t *Tensors) Float32(name string) ([]float32, []int, error) {
	b, shape, err := t.bytes(name, "F32")
	if err != nil {
		return nil, nil, err
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, shape, nil
}

// Int32 returns the I32 tensor name and its shape.
func (t *Tensors) Int32(name string) ([]int32, []int, error) {
	b, shape, err := t.bytes(name, "I32")
	if err != nil {
		return nil, nil, err
	}
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, shape, nil
}

// bytes returns the raw data of name after checking its dtype.
func (t *Tensors) bytes(name, dtype string) ([]byte, []int, error) {
	info, ok := t.header.Tensors[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w: no tensor %q", t.header.Path, ErrTensor, name)
	}
	if info.Dtype != dtype {
		return nil, nil, fmt.Errorf("%s: %w: %q is %s, want %s", t.header.Path, ErrTensor, name, info.Dtype, dtype)
	}
	return t.data[info.Offsets[0]:info.Offsets[1]], info.Shape, nil
}

// RelError is ‖got−want‖/‖want‖, the fixtures' measure of agreement between
// logits. Slices of different lengths, empty ones, and NaNs give +Inf, so a check
// "RelError(...) > tol" can never pass by accident.
func RelError(got, want []float32) float64 {
	if len(got) != len(want) || len(want) == 0 {
		return math.Inf(1)
	}
	var diff, norm float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		diff += d * d
		norm += float64(want[i]) * float64(want[i])
	}
	rel := math.Sqrt(diff / norm)
	if norm == 0 {
		rel = math.Sqrt(diff)
	}
	if math.IsNaN(rel) {
		return math.Inf(1)
	}
	return rel
}
