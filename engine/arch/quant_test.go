package arch

import (
	"encoding/json"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/metal"
)

// quantizeFixture writes two copies of a fixture model: one MLX-quantized as
// mlx-lm stores it (weight/scales/biases + "quantization" in config.json, with
// per-module overrides) and one holding the dequantized float weights. The two
// must give the same logits if the quantized layers are right.
func quantizeFixture(t *testing.T, src string, overrides map[string]any) (qdir, fdir string) {
	qdir, fdir = t.TempDir(), t.TempDir()
	const group, bits = 32, 8
	mlxtest.Do(t, func() error {
		arrays, _, err := metal.LoadSafetensors(filepath.Join(src, "model.safetensors"))
		if err != nil {
			return err
		}
		qw, fw := map[string]*metal.Array{}, map[string]*metal.Array{}
		for name, a := range arrays {
			module := strings.TrimSuffix(name, ".weight")
			p, quantize := quantParams(module, overrides, group, bits)
			if !strings.HasSuffix(name, ".weight") || a.Ndim() != 2 || a.Dim(-1)%p[0] != 0 || !quantize {
				qw[name], fw[name] = a, a
				continue
			}
			wq, scales, biases := metal.Quantize(a, p[0], p[1], "affine")
			qw[name], qw[module+".scales"], qw[module+".biases"] = wq, scales, biases
			fw[name] = metal.Dequantize(wq, scales, biases, p[0], p[1], "affine")
		}
		if err := metal.SaveSafetensors(filepath.Join(qdir, "model.safetensors"), qw, nil); err != nil {
			return err
		}
		return metal.SaveSafetensors(filepath.Join(fdir, "model.safetensors"), fw, nil)
	})
	writeConfig(t, src, qdir, map[string]any{"group_size": group, "bits": bits, "mode": "affine"}, overrides)
	writeConfig(t, src, fdir, nil, nil)
	return qdir, fdir
}

// quantParams returns group size and bits for a module and whether to quantize it.
func quantParams(module string, overrides map[string]any, group, bits int) ([2]int, bool) {
	switch o := overrides[module].(type) {
	case bool:
		return [2]int{group, bits}, o
	case map[string]any:
		return [2]int{o["group_size"].(int), o["bits"].(int)}, true
	}
	return [2]int{group, bits}, true
}

// writeConfig copies config.json into dst, adding a quantization object.
func writeConfig(t *testing.T, src, dst string, quant, overrides map[string]any) {
	data, err := os.ReadFile(filepath.Join(src, "config.json"))
	must(t, err)
	var cfg map[string]any
	must(t, json.Unmarshal(data, &cfg))
	if quant != nil {
		for k, v := range overrides {
			quant[k] = v
		}
		cfg["quantization"] = quant
	}
	data, err = json.Marshal(cfg)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dst, "config.json"), data, 0o644))
}

func TestQuantizedWeightsMatchDequantized(t *testing.T) {
	mlxtest.Require(t)
	models := filepath.Join(fixtureModels(t)[0], "..")
	tests := []struct {
		model     string
		overrides map[string]any
	}{
		{"llama", map[string]any{"lm_head": false, "model.layers.0.mlp.down_proj": map[string]any{"group_size": 64, "bits": 4}}},
		{"qwen2", nil},       // tied head through the quantized embedding, q/k/v biases
		{"phi3", nil},        // fused projections
		{"gemma3_text", nil}, // tied head, (1 + w) norms
		{"qwen3_moe", map[string]any{"model.layers.1.mlp.gate": map[string]any{"group_size": 64, "bits": 8}}}, // gather_qmm
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			src := filepath.Join(models, tt.model)
			qdir, fdir := quantizeFixture(t, src, tt.overrides)
			ref := readReference(t, src)
			qm, fm := loadModel(t, qdir), loadModel(t, fdir)
			ids := ref.ints["input_ids_2"]
			got, want := logitsOf(t, qm, ids, nil), logitsOf(t, fm, ids, nil)
			if e := relErr(got, want); e > 1e-4 {
				t.Errorf("quantized vs dequantized weights: relative error %.3g > 1e-4", e)
			}
			if e := relErr(got, ref.floats["logits_2"]); e > 0.3 {
				t.Errorf("quantized vs float reference: relative error %.3g > 0.3 (4- and 8-bit rounding)", e)
			}
		})
	}
}

func TestHalfPrecisionWeights(t *testing.T) {
	mlxtest.Require(t)
	src := filepath.Join(fixtureModels(t)[0], "..", "gemma3_text")
	ref := readReference(t, src)
	for _, dt := range []metal.Dtype{metal.Float16, metal.BFloat16} {
		t.Run(dt.String(), func(t *testing.T) {
			dir := t.TempDir()
			mlxtest.Do(t, func() error {
				arrays, _, err := metal.LoadSafetensors(filepath.Join(src, "model.safetensors"))
				if err != nil {
					return err
				}
				for name, a := range arrays {
					arrays[name] = metal.Astype(a, dt)
				}
				return metal.SaveSafetensors(filepath.Join(dir, "model.safetensors"), arrays, nil)
			})
			writeConfig(t, src, dir, nil, nil)
			m := loadModel(t, dir)
			got := logitsOf(t, m, ref.ints["input_ids_2"], nil)
			if e := relErr(got, ref.floats["logits_2"]); e > 0.05 {
				t.Errorf("%s weights: relative error %.3g > 0.05", dt, e)
			}
		})
	}
}
