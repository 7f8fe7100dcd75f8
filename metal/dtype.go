package metal

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Dtype is an MLX element type; the values follow mlx::core::Dtype::Val.
type Dtype int

// The MLX element types.
const (
	Bool Dtype = iota
	Uint8
	Uint16
	Uint32
	Uint64
	Int8
	Int16
	Int32
	Int64
	Float16
	Float32
	Float64
	BFloat16
	Complex64
)

var dtypeNames = [...]string{"bool", "uint8", "uint16", "uint32", "uint64", "int8",
	"int16", "int32", "int64", "float16", "float32", "float64", "bfloat16", "complex64"}

var dtypeSizes = [...]int{1, 1, 2, 4, 8, 1, 2, 4, 8, 2, 4, 8, 2, 8}

// String returns MLX's name for the type, e.g. "bfloat16".
func (d Dtype) String() string {
	if d < 0 || int(d) >= len(dtypeNames) {
		return fmt.Sprintf("Dtype(%d)", int(d))
	}
	return dtypeNames[d]
}

// Size returns the bytes per element (0 for an unknown type).
func (d Dtype) Size() int {
	if d < 0 || int(d) >= len(dtypeSizes) {
		return 0
	}
	return dtypeSizes[d]
}

// IsFloat reports whether d is a real floating-point type.
func (d Dtype) IsFloat() bool {
	return d == Float16 || d == Float32 || d == Float64 || d == BFloat16
}

// decode reads one little-endian element of type d as a float64.
func (d Dtype) decode(b []byte) (float64, error) {
	switch d {
	case Bool, Uint8:
		return float64(b[0]), nil
	case Int8:
		return float64(int8(b[0])), nil
	case Uint16:
		return float64(binary.LittleEndian.Uint16(b)), nil
	case Int16:
		return float64(int16(binary.LittleEndian.Uint16(b))), nil
	case Uint32:
		return float64(binary.LittleEndian.Uint32(b)), nil
	case Int32:
		return float64(int32(binary.LittleEndian.Uint32(b))), nil
	case Uint64:
		return float64(binary.LittleEndian.Uint64(b)), nil
	case Int64:
		return float64(int64(binary.LittleEndian.Uint64(b))), nil
	case Float16:
		return float64(halfToFloat(binary.LittleEndian.Uint16(b))), nil
	case BFloat16:
		return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(b)) << 16)), nil
	case Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))), nil
	case Float64:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("metal: no scalar value for dtype %v", d)
}

// halfToFloat converts IEEE-754 binary16 bits to a float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// subnormal: value = frac * 2^-24
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}
