package gguf

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// TestRepackIsExact re-packs gguf-py's random blocks of every repackable
// type into MLX affine quantization and checks that MLX's own dequantize
// gives back gguf-py's values (which TestDequantizeMatchesGGUFPy holds LMX's
// Go decoding to, bit for bit) exactly with float32 scales, and within
// float16 rounding with float16 ones where those hold ggml's scales exactly.
func TestRepackIsExact(t *testing.T) {
	dir := t.TempDir()
	runPy(t, "gguf_ref.py", "dequant", dir)
	for _, typ := range []Type{TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0, TypeQ4_K, TypeQ5_K} {
		t.Run(typ.String(), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, typ.String()+".raw"))
			if err != nil {
				t.Fatal(err)
			}
			want := readFloats(t, filepath.Join(dir, typ.String()+".f32"))
			const cols = 8 * groupSize // the blocks as rows of 256 weights
			p, err := repack(typ, raw, int64(len(want)))
			if err != nil {
				t.Fatal(err)
			}
			rows := len(want) / cols
			sameValues(t, typ.String(), mlxDequantize(t, p, rows, cols, metal.Float32), want)
			if exactIn("float16", p.Scales, p.Biases) {
				// Exact parameters; MLX computes scale·q + bias in float16.
				if e := relErr(t, typ.String()+" in float16", mlxDequantize(t, p, rows, cols, metal.Float16), want); e > 1e-3 {
					t.Errorf("%s in float16: relative error %.2g, want within float16 rounding (1e-3)", typ, e)
				}
			}
		})
	}
}

// mlxDequantize runs MLX's dequantize on a packed weight of rows × cols
// with scales and biases in dt, returning float32 values.
func mlxDequantize(t *testing.T, p *packedWeight, rows, cols int, dt metal.Dtype) []float32 {
	t.Helper()
	var out []float32
	mlxtest.Do(t, func() error {
		w := metal.FromUint32(p.Words, rows, cols*p.Bits/32)
		s := metal.Astype(metal.FromFloat32(p.Scales, rows, cols/groupSize), dt)
		b := metal.Astype(metal.FromFloat32(p.Biases, rows, cols/groupSize), dt)
		var err error
		out, err = metal.Astype(metal.Dequantize(w, s, b, groupSize, p.Bits, metal.ModeAffine), metal.Float32).Float32s()
		return err
	})
	return out
}

// TestRepresentable checks the exactness test that decides whether a
// quantized weight's scales fit the import dtype.
func TestRepresentable(t *testing.T) {
	for _, tt := range []struct {
		dtype string
		v     float32
		want  bool
	}{
		{"float32", 1e-30, true},
		{"float16", 0.000123, false},
		{"float16", 0.00012302398681640625, true}, // a float16 value
		{"float16", 1.0009765625, true},           // 1 + 2^-10
		{"float16", 65504, true},
		{"float16", 65536, false},
		{"float16", 5.960464477539063e-08, true}, // smallest subnormal
		{"float16", 2.9e-08, false},
		{"bfloat16", 1.0009765625, false},
		{"bfloat16", 1.5, true},
		{"bfloat16", 3e38, false},
		{"float32", float32(math.Inf(1)), false},
	} {
		if got := representable(tt.dtype, tt.v); got != tt.want {
			t.Errorf("representable(%s, %g) = %v, want %v", tt.dtype, tt.v, got, tt.want)
		}
	}
}
