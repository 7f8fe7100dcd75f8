// Package gguf imports llama.cpp's GGUF files: a reader for the format
// (metadata, tensor directory, tensor data), dequantization of ggml's block
// types, exact re-packing of Q4_0/Q4_1/Q5_x/Q8_0/Q4_K/Q5_K into MLX affine
// quantization, and Import, which writes an MLX model folder (config.json,
// safetensors, generation and tokenizer files) that engine.Load loads like
// any mlx-community model.
package gguf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
)

// ErrNotGGUF marks a file that does not start with the GGUF magic.
var ErrNotGGUF = errors.New("not a GGUF file")

// ErrCorrupt marks a GGUF file that is truncated or inconsistent.
var ErrCorrupt = errors.New("corrupt GGUF file")

// ErrUnsupported marks a valid GGUF file LMX cannot import (version, byte
// order, architecture, tensor type).
var ErrUnsupported = errors.New("unsupported GGUF file")

// File is an opened GGUF file: the metadata and tensor directory Open read
// and validated. Tensor data stays on disk until ReadTensor.
type File struct {
	// Path is the file's path (errors name it).
	Path string
	// Version is the GGUF format version (2 or 3).
	Version int
	// Metadata maps each key to its value: string, int64 (every integer
	// type), float64 (both float types), bool, []string, []int64,
	// []float64, []bool, or []any for arrays of arrays.
	Metadata map[string]any
	// Tensors are the tensor infos in file order.
	Tensors []TensorInfo
	// Alignment is general.alignment (32 by default).
	Alignment int64
	// DataOffset is where the tensor data section starts.
	DataOffset int64
	// Size is the file size in bytes.
	Size int64
}

// TensorInfo is one entry of the tensor directory.
type TensorInfo struct {
	Name string
	Type Type
	// Dims are the sizes as GGUF stores them: Dims[0] (ne[0]) varies fastest.
	Dims []int64
	// Offset is the data's offset from File.DataOffset.
	Offset int64
}

// Elements is the number of elements of the tensor.
func (t TensorInfo) Elements() int64 {
	n := int64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// Bytes is the size of the tensor's data.
func (t TensorInfo) Bytes() int64 {
	return t.Type.rowBytes(t.Dims[0]) * (t.Elements() / t.Dims[0])
}

// Shape is the row-major shape (outermost first), as safetensors and MLX
// write it: Dims reversed.
func (t TensorInfo) Shape() []int {
	s := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		s[len(t.Dims)-1-i] = int(d)
	}
	return s
}

// The format's fixed limits.
const (
	defaultAlignment = 32
	maxDims          = 4 // GGML_MAX_DIMS
	maxNesting       = 8 // arrays of arrays deeper than this are refused
)

// Open reads and validates the header, metadata and tensor directory of the
// GGUF file at path: every length and count is checked against the bytes
// left in the file before anything is allocated, and every tensor's data
// against the file's end.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open GGUF: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("open GGUF: %w", err)
	}
	d := &decoder{r: bufio.NewReaderSize(fh, 1<<16), size: st.Size(), path: path}
	f := &File{Path: path, Size: st.Size(), Alignment: defaultAlignment}
	if err := f.read(d); err != nil {
		return nil, err
	}
	return f, nil
}

// read parses the whole header through d.
func (f *File) read(d *decoder) error {
	if err := f.readPreamble(d); err != nil {
		return err
	}
	nTensors, err := d.count("tensor count", 8+4+8+4+8)
	if err != nil {
		return err
	}
	nKV, err := d.count("metadata count", 8+4+1)
	if err != nil {
		return err
	}
	if f.Metadata, err = d.metadata(nKV); err != nil {
		return err
	}
	if err := f.readAlignment(); err != nil {
		return err
	}
	if err := f.readTensorInfos(d, nTensors); err != nil {
		return err
	}
	f.DataOffset = alignUp(d.off, f.Alignment)
	return f.checkData()
}

// readPreamble checks the magic and the version.
func (f *File) readPreamble(d *decoder) error {
	magic, err := d.bytes(4, "magic")
	if err != nil {
		return fmt.Errorf("%s: %w (%d bytes, too short for a GGUF header)", f.Path, ErrNotGGUF, f.Size)
	}
	if string(magic) != "GGUF" {
		return fmt.Errorf("%s: %w: magic %q, want \"GGUF\"", f.Path, ErrNotGGUF, magic)
	}
	v, err := d.u32("version")
	if err != nil {
		return err
	}
	if sw := bits.ReverseBytes32(v); sw == 2 || sw == 3 {
		return fmt.Errorf("%s: %w: big-endian GGUF (version %d) is not supported", f.Path, ErrUnsupported, sw)
	}
	if v != 2 && v != 3 {
		return fmt.Errorf("%s: %w: unsupported GGUF version %d (LMX reads versions 2 and 3)", f.Path, ErrUnsupported, v)
	}
	f.Version = int(v)
	return nil
}

// readAlignment applies general.alignment, which must be a power of two.
func (f *File) readAlignment() error {
	v, ok := f.Metadata["general.alignment"]
	if !ok {
		return nil
	}
	a, isInt := v.(int64)
	if !isInt || a <= 0 || a&(a-1) != 0 {
		return fmt.Errorf("%s: %w: general.alignment %v is not a positive power of two", f.Path, ErrCorrupt, v)
	}
	f.Alignment = a
	return nil
}

// readTensorInfos reads the tensor directory.
func (f *File) readTensorInfos(d *decoder, n int64) error {
	f.Tensors = make([]TensorInfo, 0, n)
	seen := make(map[string]bool, n)
	for i := range n {
		t, err := f.readTensorInfo(d, i)
		if err != nil {
			return err
		}
		if seen[t.Name] {
			return fmt.Errorf("%s: %w: duplicate tensor %q", f.Path, ErrCorrupt, t.Name)
		}
		seen[t.Name] = true
		f.Tensors = append(f.Tensors, t)
	}
	return nil
}

// readTensorInfo reads entry i: name, dims, type and offset, each checked.
func (f *File) readTensorInfo(d *decoder, i int64) (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = d.str(fmt.Sprintf("name of tensor %d", i)); err != nil {
		return t, err
	}
	nDims, err := d.u32("dimension count of tensor " + t.Name)
	if err != nil {
		return t, err
	}
	if nDims == 0 || nDims > maxDims {
		return t, fmt.Errorf("%s: %w: tensor %q has %d dimensions (1 to %d allowed)", f.Path, ErrCorrupt, t.Name, nDims, maxDims)
	}
	if t.Dims, err = f.readDims(d, t.Name, int(nDims)); err != nil {
		return t, err
	}
	typ, err := d.u32("type of tensor " + t.Name)
	if err != nil {
		return t, err
	}
	t.Type = Type(typ)
	if err := f.checkType(t); err != nil {
		return t, err
	}
	off, err := d.u64("offset of tensor " + t.Name)
	if err != nil {
		return t, err
	}
	if off > math.MaxInt64 || int64(off)%f.Alignment != 0 {
		return t, fmt.Errorf("%s: %w: tensor %q data offset %d is not a multiple of the alignment %d", f.Path, ErrCorrupt, t.Name, off, f.Alignment)
	}
	t.Offset = int64(off)
	return t, nil
}

// readDims reads n sizes, each positive and their product within int64.
func (f *File) readDims(d *decoder, name string, n int) ([]int64, error) {
	dims := make([]int64, n)
	total := int64(1)
	for j := range dims {
		v, err := d.u64("dimensions of tensor " + name)
		if err != nil {
			return nil, err
		}
		if v == 0 || v > math.MaxInt64/uint64(total) {
			return nil, fmt.Errorf("%s: %w: tensor %q has an impossible dimension %d", f.Path, ErrCorrupt, name, v)
		}
		dims[j] = int64(v)
		total *= int64(v)
	}
	return dims, nil
}

// checkType refuses unknown types and rows that are not whole blocks.
func (f *File) checkType(t TensorInfo) error {
	bs := t.Type.BlockSize()
	if bs == 0 {
		return fmt.Errorf("%s: %w: tensor %q has unknown tensor type %d", f.Path, ErrUnsupported, t.Name, uint32(t.Type))
	}
	if t.Dims[0]%bs != 0 {
		return fmt.Errorf("%s: %w: tensor %q has rows of %d elements, not a multiple of the %s block size %d",
			f.Path, ErrCorrupt, t.Name, t.Dims[0], t.Type, bs)
	}
	if t.Elements()/bs > f.Size/types[t.Type].typeSize {
		return fmt.Errorf("%s: %w: tensor %q (%s %v) is larger than the whole file (%d bytes; truncated?)",
			f.Path, ErrCorrupt, t.Name, t.Type, t.Dims, f.Size)
	}
	return nil
}

// checkData verifies that every tensor's data lies inside the file.
func (f *File) checkData() error {
	avail := f.Size - f.DataOffset
	for _, t := range f.Tensors {
		if end := t.Offset + t.Bytes(); t.Offset > avail || end > avail || end < t.Offset {
			return fmt.Errorf("%s: %w: tensor %q data [%d, %d) runs past the end of the file (%d data bytes; truncated download?)",
				f.Path, ErrCorrupt, t.Name, t.Offset, end, max(avail, 0))
		}
	}
	return nil
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return TensorInfo{}, false
}

// ReadTensor reads the raw bytes of t's data (t.Bytes() of them, in ggml's
// block layout).
func (f *File) ReadTensor(t TensorInfo) ([]byte, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, fmt.Errorf("read tensor %s: %w", t.Name, err)
	}
	defer fh.Close()
	buf := make([]byte, t.Bytes())
	if _, err := fh.ReadAt(buf, f.DataOffset+t.Offset); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: %w: tensor %q data is cut short (file changed since it was opened?)", f.Path, ErrCorrupt, t.Name)
		}
		return nil, fmt.Errorf("%s: read tensor %q: %w", f.Path, t.Name, err)
	}
	return buf, nil
}

// alignUp rounds off up to a multiple of a.
func alignUp(off, a int64) int64 {
	return (off + a - 1) / a * a
}
