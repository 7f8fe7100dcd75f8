package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// valueType is a GGUF metadata value type (gguf_type).
type valueType uint32

// The metadata value types of the GGUF format.
const (
	vUint8 valueType = iota
	vInt8
	vUint16
	vInt16
	vUint32
	vInt32
	vFloat32
	vBool
	vString
	vArray
	vUint64
	vInt64
	vFloat64
)

// minSize is the fewest bytes one value of each type occupies: what a count
// is checked against before anything is allocated.
var minSize = [...]int64{
	vUint8: 1, vInt8: 1, vUint16: 2, vInt16: 2, vUint32: 4, vInt32: 4, vFloat32: 4, vBool: 1,
	vString: 8, vArray: 4 + 8, vUint64: 8, vInt64: 8, vFloat64: 8,
}

// decoder reads little-endian GGUF values, tracking the offset so that every
// length is checked against the bytes left and errors name the position.
type decoder struct {
	r    *bufio.Reader
	off  int64
	size int64
	path string
	buf  [8]byte
}

// left is the number of bytes after the current offset.
func (d *decoder) left() int64 { return d.size - d.off }

// truncated is the error for a value that does not fit in the file.
func (d *decoder) truncated(what string, need int64) error {
	return fmt.Errorf("%s: %w: truncated at byte %d reading %s (%d bytes needed, %d left)",
		d.path, ErrCorrupt, d.off, what, need, max(d.left(), 0))
}

// bytes reads n bytes (n already checked to be modest or within the file).
func (d *decoder) bytes(n int64, what string) ([]byte, error) {
	if n > d.left() {
		return nil, d.truncated(what, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, fmt.Errorf("%s: read %s at byte %d: %w", d.path, what, d.off, err)
	}
	d.off += n
	return b, nil
}

// fixed reads n ≤ 8 bytes into d.buf.
func (d *decoder) fixed(n int64, what string) ([]byte, error) {
	if n > d.left() {
		return nil, d.truncated(what, n)
	}
	b := d.buf[:n]
	if _, err := io.ReadFull(d.r, b); err != nil {
		return nil, fmt.Errorf("%s: read %s at byte %d: %w", d.path, what, d.off, err)
	}
	d.off += n
	return b, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.fixed(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.fixed(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a uint64 count of items of at least minBytes each, refusing
// one the rest of the file cannot hold.
func (d *decoder) count(what string, minBytes int64) (int64, error) {
	at := d.off
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if n > uint64(d.left()/minBytes) {
		return 0, fmt.Errorf("%s: %w: %s %d at byte %d is more than the %d bytes left can hold (truncated or corrupt file)",
			d.path, ErrCorrupt, what, n, at, d.left())
	}
	return int64(n), nil
}

// str reads a length-prefixed string.
func (d *decoder) str(what string) (string, error) {
	n, err := d.count("length of "+what, 1)
	if err != nil {
		return "", err
	}
	b, err := d.bytes(n, what)
	return string(b), err
}

// metadata reads n key-value pairs.
func (d *decoder) metadata(n int64) (map[string]any, error) {
	md := make(map[string]any, min(n, 1024))
	for range n {
		key, err := d.str("metadata key")
		if err != nil {
			return nil, err
		}
		if _, dup := md[key]; dup {
			return nil, fmt.Errorf("%s: %w: duplicate metadata key %q", d.path, ErrCorrupt, key)
		}
		t, err := d.u32("type of " + key)
		if err != nil {
			return nil, err
		}
		if md[key], err = d.value(valueType(t), key, 0); err != nil {
			return nil, err
		}
	}
	return md, nil
}

// value reads one value of type t; key names it in errors.
func (d *decoder) value(t valueType, key string, depth int) (any, error) {
	switch t {
	case vString:
		return d.str("value of " + key)
	case vArray:
		return d.array(key, depth)
	case vBool:
		b, err := d.fixed(1, "value of "+key)
		if err != nil {
			return nil, err
		}
		if b[0] > 1 {
			return nil, fmt.Errorf("%s: %w: bool %q holds %d", d.path, ErrCorrupt, key, b[0])
		}
		return b[0] == 1, nil
	}
	if int(t) >= len(minSize) {
		return nil, fmt.Errorf("%s: %w: metadata %q has unknown value type %d", d.path, ErrCorrupt, key, t)
	}
	b, err := d.fixed(minSize[t], "value of "+key)
	if err != nil {
		return nil, err
	}
	return d.number(t, b, key)
}

// number decodes a numeric value: integers to int64, floats to float64.
func (d *decoder) number(t valueType, b []byte, key string) (any, error) {
	le := binary.LittleEndian
	switch t {
	case vUint8:
		return int64(b[0]), nil
	case vInt8:
		return int64(int8(b[0])), nil
	case vUint16:
		return int64(le.Uint16(b)), nil
	case vInt16:
		return int64(int16(le.Uint16(b))), nil
	case vUint32:
		return int64(le.Uint32(b)), nil
	case vInt32:
		return int64(int32(le.Uint32(b))), nil
	case vInt64:
		return int64(le.Uint64(b)), nil
	case vFloat32:
		return float64(math.Float32frombits(le.Uint32(b))), nil
	case vFloat64:
		return math.Float64frombits(le.Uint64(b)), nil
	}
	v := le.Uint64(b) // vUint64
	if v > math.MaxInt64 {
		return nil, fmt.Errorf("%s: %w: metadata %q holds uint64 %d, above the largest int64", d.path, ErrUnsupported, key, v)
	}
	return int64(v), nil
}

// array reads an array: []string, []int64, []float64, []bool or []any.
func (d *decoder) array(key string, depth int) (any, error) {
	if depth >= maxNesting {
		return nil, fmt.Errorf("%s: %w: metadata %q nests arrays deeper than %d", d.path, ErrCorrupt, key, maxNesting)
	}
	et, err := d.u32("element type of " + key)
	if err != nil {
		return nil, err
	}
	t := valueType(et)
	if int(t) >= len(minSize) {
		return nil, fmt.Errorf("%s: %w: array %q has unknown element type %d", d.path, ErrCorrupt, key, et)
	}
	n, err := d.count("length of array "+key, minSize[t])
	if err != nil {
		return nil, err
	}
	switch t {
	case vString:
		return collect[string](d, t, key, n, depth)
	case vBool:
		return collect[bool](d, t, key, n, depth)
	case vFloat32, vFloat64:
		return collect[float64](d, t, key, n, depth)
	case vArray:
		return collect[any](d, t, key, n, depth)
	}
	return collect[int64](d, t, key, n, depth)
}

// collect reads n elements of type t into a []E.
func collect[E any](d *decoder, t valueType, key string, n int64, depth int) ([]E, error) {
	out := make([]E, n)
	for i := range out {
		v, err := d.value(t, key, depth+1)
		if err != nil {
			return nil, err
		}
		out[i] = v.(E)
	}
	return out, nil
}
