package gguf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDequantizeMatchesGGUFPy decodes random blocks of every supported type
// (random quants, random finite scales including float16 subnormals) and
// compares each value bit for bit with gguf-py's numpy dequantization: every
// formula is products of exact values and at most one rounded step, done in
// the same order.
func TestDequantizeMatchesGGUFPy(t *testing.T) {
	dir := t.TempDir()
	runPy(t, "gguf_ref.py", "dequant", dir)
	for _, typ := range []Type{TypeF32, TypeF16, TypeBF16, TypeQ4_0, TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ8_0,
		TypeQ2_K, TypeQ3_K, TypeQ4_K, TypeQ5_K, TypeQ6_K} {
		t.Run(typ.String(), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, typ.String()+".raw"))
			if err != nil {
				t.Fatal(err)
			}
			want := readFloats(t, filepath.Join(dir, typ.String()+".f32"))
			got, err := Dequantize(typ, raw, int64(len(want)))
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, typ.String(), got, want)
		})
	}
}

// TestDequantizeRefusesOtherTypes checks that a type LMX does not decode,
// or data of the wrong size, is an error naming the problem.
func TestDequantizeRefusesOtherTypes(t *testing.T) {
	for _, tt := range []struct {
		typ  Type
		data []byte
		n    int64
		want error
		text string
	}{
		{TypeIQ2_XXS, make([]byte, 66), 256, ErrUnsupported, "IQ2_XXS"},
		{TypeTQ1_0, make([]byte, 54), 256, ErrUnsupported, "TQ1_0"},
		{Type(99), nil, 0, ErrUnsupported, "type 99"},
		{TypeQ4_0, make([]byte, 17), 32, ErrCorrupt, "17 bytes"},
		{TypeQ4_K, make([]byte, 144), 32, ErrCorrupt, "32 Q4_K elements"},
	} {
		t.Run(tt.text, func(t *testing.T) {
			_, err := Dequantize(tt.typ, tt.data, tt.n)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("got %v, want %v naming %q", err, tt.want, tt.text)
			}
		})
	}
}
