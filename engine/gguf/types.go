package gguf

import "fmt"

// Type is a ggml tensor type (enum ggml_type; gguf-py's GGMLQuantizationType).
type Type uint32

// The ggml tensor types LMX names. Their numbers are fixed by the GGUF format.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
	TypeNVFP4   Type = 40
	TypeQ1_0    Type = 41
)

// qk is the super-block size of the K-quants (QK_K).
const qk = 256

// typeInfo is a type's name and storage: blockSize elements in typeSize bytes.
type typeInfo struct {
	name                string
	blockSize, typeSize int64
}

// types is ggml's type traits table (GGML_QUANT_SIZES in gguf-py): every type
// a GGUF file may hold, so that any valid file's layout can be checked even
// where LMX cannot decode the values.
var types = map[Type]typeInfo{
	TypeF32: {"F32", 1, 4}, TypeF16: {"F16", 1, 2},
	TypeQ4_0: {"Q4_0", 32, 2 + 16}, TypeQ4_1: {"Q4_1", 32, 2 + 2 + 16},
	TypeQ5_0: {"Q5_0", 32, 2 + 4 + 16}, TypeQ5_1: {"Q5_1", 32, 2 + 2 + 4 + 16},
	TypeQ8_0: {"Q8_0", 32, 2 + 32}, TypeQ8_1: {"Q8_1", 32, 4 + 4 + 32},
	TypeQ2_K:    {"Q2_K", qk, 2 + 2 + qk/16 + qk/4},
	TypeQ3_K:    {"Q3_K", qk, 2 + qk/4 + qk/8 + 12},
	TypeQ4_K:    {"Q4_K", qk, 2 + 2 + qk/2 + 12},
	TypeQ5_K:    {"Q5_K", qk, 2 + 2 + qk/2 + qk/8 + 12},
	TypeQ6_K:    {"Q6_K", qk, 2 + qk/2 + qk/4 + qk/16},
	TypeQ8_K:    {"Q8_K", qk, 4 + qk + qk/8},
	TypeIQ2_XXS: {"IQ2_XXS", qk, 2 + qk/4}, TypeIQ2_XS: {"IQ2_XS", qk, 2 + qk/4 + qk/32},
	TypeIQ3_XXS: {"IQ3_XXS", qk, 2 + qk/4 + qk/8}, TypeIQ1_S: {"IQ1_S", qk, 2 + qk/8 + qk/16},
	TypeIQ4_NL: {"IQ4_NL", 32, 2 + 16}, TypeIQ3_S: {"IQ3_S", qk, 2 + qk/4 + qk/8 + qk/32 + 4},
	TypeIQ2_S: {"IQ2_S", qk, 2 + qk/4 + qk/16}, TypeIQ4_XS: {"IQ4_XS", qk, 2 + 2 + qk/2 + qk/64},
	TypeI8: {"I8", 1, 1}, TypeI16: {"I16", 1, 2}, TypeI32: {"I32", 1, 4}, TypeI64: {"I64", 1, 8},
	TypeF64: {"F64", 1, 8}, TypeIQ1_M: {"IQ1_M", qk, qk/8 + qk/16 + qk/32},
	TypeBF16: {"BF16", 1, 2}, TypeTQ1_0: {"TQ1_0", qk, 2 + 4*13}, TypeTQ2_0: {"TQ2_0", qk, 2 + 64},
	TypeMXFP4: {"MXFP4", 32, 1 + 16}, TypeNVFP4: {"NVFP4", 64, 4 + 32}, TypeQ1_0: {"Q1_0", 128, 2 + 16},
}

// String returns ggml's name for the type ("Q4_K"), or "type N" when unknown.
func (t Type) String() string {
	if info, ok := types[t]; ok {
		return info.name
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// BlockSize is the number of elements one block of the type holds (1 for
// plain types, 0 for an unknown type).
func (t Type) BlockSize() int64 { return types[t].blockSize }

// rowBytes is the storage of n elements of type t (n a multiple of the block size).
func (t Type) rowBytes(n int64) int64 {
	info := types[t]
	return n / info.blockSize * info.typeSize
}
