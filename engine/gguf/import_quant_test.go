package gguf

import (
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/metal"
)

// TestImportKeepsQuantization imports quantized GGUFs of the fixtures and
// checks, against the same files imported with every weight dequantized:
// the quantization block (group 32, the majority's bits, an 8-bit override
// for a Q8_0 embedding, false for a weight of another type, 5 bits for
// Q5_0 and Q5_1), that every
// re-packed weight dequantizes in MLX to exactly the float weight, and that
// the logits agree.
func TestImportKeepsQuantization(t *testing.T) {
	for _, tt := range []struct {
		fixture, types string
		bits           int
		overrides      map[string]any
	}{
		{"llama", "Q4_0,token_embd=Q8_0", 4, map[string]any{"model.embed_tokens": map[string]any{"group_size": 32.0, "bits": 8.0}}},
		{"llama", "Q4_1,ffn_down=F16", 4, map[string]any{"model.layers.0.mlp.down_proj": false, "model.layers.1.mlp.down_proj": false}},
		{"qwen2", "Q8_0", 8, nil},
		{"qwen3", "Q5_1,attn_v=Q5_0,ffn_down=Q8_0", 5, map[string]any{
			"model.layers.0.mlp.down_proj": map[string]any{"group_size": 32.0, "bits": 8.0},
			"model.layers.1.mlp.down_proj": map[string]any{"group_size": 32.0, "bits": 8.0},
		}},
		{"gemma3_text", "Q4_0", 4, nil},
		{"phi3", "Q4_1,output=Q8_0", 4, map[string]any{"lm_head": map[string]any{"group_size": 32.0, "bits": 8.0}}},
	} {
		t.Run(tt.fixture+"/"+tt.types, func(t *testing.T) {
			path := fixtureGGUF(t, tt.fixture, tt.types)
			q, f := importTo(t, path, Options{}), importTo(t, path, Options{Dequantize: true})
			checkQuantConfig(t, readConfig(t, q), tt.bits, tt.overrides)
			if fc := readConfig(t, f); fc["quantization"] != nil {
				t.Fatalf("dequantized import has quantization %v", fc["quantization"])
			}
			if n := checkPacked(t, q, f); n == 0 {
				t.Fatal("no weight stayed quantized")
			}
			ids, _ := referenceLogits(t, tt.fixture)
			got, want := modelLogits(t, q, ids), modelLogits(t, f, ids)
			for i := range ids {
				if e := relErr(t, fmt.Sprintf("prompt %d", i), got[i], want[i]); e > 1e-4 {
					t.Errorf("prompt %d: quantized logits differ from dequantized ones by %.2g, want ≤ 1e-4", i, e)
				}
			}
		})
	}
}

// checkQuantConfig compares config.json's quantization block with the
// expected defaults and overrides.
func checkQuantConfig(t *testing.T, cfg map[string]any, bits int, overrides map[string]any) {
	t.Helper()
	q, ok := cfg["quantization"].(map[string]any)
	if !ok || !reflect.DeepEqual(cfg["quantization_config"], q) {
		t.Fatalf("quantization %v, quantization_config %v", cfg["quantization"], cfg["quantization_config"])
	}
	want := map[string]any{"group_size": 32.0, "bits": float64(bits), "mode": "affine"}
	maps.Copy(want, overrides)
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("quantization block\n%v\nwant\n%v", q, want)
	}
}

// checkPacked dequantizes every quantized module of folder q with MLX and
// compares it with the float weight of folder f; it returns the number of
// modules checked.
func checkPacked(t *testing.T, q, f string) int {
	t.Helper()
	cfg, err := model.ReadConfig(q)
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ got, want []float32 }
	pairs := map[string]pair{}
	mlxtest.Do(t, func() error {
		qa, _, err := metal.LoadSafetensors(filepath.Join(q, "model.safetensors"))
		if err != nil {
			return err
		}
		fa, _, err := metal.LoadSafetensors(filepath.Join(f, "model.safetensors"))
		if err != nil {
			return err
		}
		for name := range qa {
			m, ok := strings.CutSuffix(name, ".scales")
			if !ok {
				continue
			}
			p, _ := cfg.Quantization.For(m)
			w := metal.Dequantize(qa[m+".weight"], qa[m+".scales"], qa[m+".biases"], p.GroupSize, p.Bits, p.Mode)
			var pr pair
			if pr.got, err = w.Float32s(); err != nil {
				return err
			}
			if pr.want, err = fa[m+".weight"].Float32s(); err != nil {
				return err
			}
			pairs[m] = pr
		}
		return nil
	})
	for _, m := range slices.Sorted(maps.Keys(pairs)) {
		sameValues(t, m, pairs[m].got, pairs[m].want)
	}
	return len(pairs)
}

// TestImportHalfPrecision imports with float16 and bfloat16: float16 holds
// ggml's float16 scales exactly, so weights stay quantized; bfloat16 does
// not, so they are dequantized. Either way the model computes in the chosen
// dtype, and its logits stay near float32's (measured: 0.8% for float16,
// where MLX's quantized kernels compute scale·q + bias in float16, and
// 2.8% for bfloat16; a wrong weight layout gives errors near 100%).
func TestImportHalfPrecision(t *testing.T) {
	path := fixtureGGUF(t, "llama", "Q4_1")
	ids, _ := referenceLogits(t, "llama")
	want := modelLogits(t, importTo(t, path, Options{Dequantize: true}), ids)
	for _, tt := range []struct {
		dtype     string
		quantized bool
		tol       float64
	}{{"float16", true, 1.5e-2}, {"bfloat16", false, 6e-2}} {
		t.Run(tt.dtype, func(t *testing.T) {
			dir := importTo(t, path, Options{Dtype: tt.dtype})
			cfg := readConfig(t, dir)
			if cfg["torch_dtype"] != tt.dtype || (cfg["quantization"] != nil) != tt.quantized {
				t.Fatalf("torch_dtype %v, quantization %v; want %s, quantized %v", cfg["torch_dtype"], cfg["quantization"], tt.dtype, tt.quantized)
			}
			got := modelLogits(t, dir, ids)
			for i := range ids {
				e := relErr(t, fmt.Sprintf("prompt %d", i), got[i], want[i])
				t.Logf("prompt %d: %s relative error %.2g", i, tt.dtype, e)
				if e > tt.tol {
					t.Errorf("prompt %d: %s logits differ from float32 by %.2g, want ≤ %g", i, tt.dtype, e, tt.tol)
				}
			}
		})
	}
}
