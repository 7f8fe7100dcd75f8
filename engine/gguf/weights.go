package gguf

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// writeWeights converts every planned tensor and writes the shards; it
// returns config.json's quantization block (nil when nothing stays
// quantized). Tensors are read and converted one at a time.
func (im *importer) writeWeights(ctx context.Context, dir string) (map[string]any, error) {
	w := &shardWriter{dir: dir, dtype: dtypes[im.opts.Dtype], limit: im.opts.ShardBytes}
	bits := map[string]int{} // quantizable module → bits, 0 for float
	var params int64
	for _, p := range im.tensors {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		out, b, err := im.convert(p)
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %w", im.f.Path, p.src.Name, err)
		}
		if p.module != "" {
			bits[p.module] = b
		}
		params += p.src.Elements()
		if err := w.add(ctx, out...); err != nil {
			return nil, err
		}
	}
	if err := w.finish(ctx, params); err != nil {
		return nil, err
	}
	return quantConfig(bits), nil
}

// convert turns one GGUF tensor into its output tensors: packed weight,
// scales and biases when it stays quantized (bits > 0), else one float
// tensor.
func (im *importer) convert(p planned) ([]hostTensor, int, error) {
	data, err := im.f.ReadTensor(p.src)
	if err != nil {
		return nil, 0, err
	}
	if p.heads > 0 {
		rows := int(p.src.Dims[len(p.src.Dims)-1])
		if data, err = unpermuteRows(data, rows, p.heads); err != nil {
			return nil, 0, err
		}
	}
	shape := p.src.Shape()
	if out := im.packed(p, data, shape); out != nil {
		return out.tensors(p.module, shape), out.Bits, nil
	}
	v, err := Dequantize(p.src.Type, data, p.src.Elements())
	if err != nil {
		return nil, 0, err
	}
	if im.fam.normShift && !isLinear(p) && isNormWeight(p.name) {
		for i := range v {
			v[i] -= 1
		}
	}
	return []hostTensor{{name: p.name, shape: shape, f32: v}}, 0, nil
}

// packed re-packs a linear or embedding weight of a repackable type (Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K) into MLX's affine layout, or returns
// nil when the tensor goes to float instead (another type, such as Q6_K
// with its groups of 16, Options.Dequantize, or scales the dtype cannot
// hold).
func (im *importer) packed(p planned, data []byte, shape []int) *packedWeight {
	if _, ok := repackable(p.src.Type); !ok || !isLinear(p) || len(shape) != 2 || im.opts.Dequantize {
		return nil
	}
	out, err := repack(p.src.Type, data, p.src.Elements())
	if err != nil || !exactIn(im.opts.Dtype, out.Scales, out.Biases) {
		return nil
	}
	return out
}

// tensors lays a packed weight out under the module's names.
func (q *packedWeight) tensors(module string, shape []int) []hostTensor {
	rows, cols := shape[0], shape[1]
	return []hostTensor{
		{name: module + ".weight", shape: []int{rows, cols * q.Bits / 32}, u32: q.Words},
		{name: module + ".scales", shape: []int{rows, cols / groupSize}, f32: q.Scales},
		{name: module + ".biases", shape: []int{rows, cols / groupSize}, f32: q.Biases},
	}
}

// isLinear reports whether the tensor is a Linear or Embedding weight.
func isLinear(p planned) bool { return p.module != "" }

// isNormWeight reports whether name is an RMSNorm weight.
func isNormWeight(name string) bool {
	return strings.HasSuffix(name, "norm.weight")
}

// quantConfig is config.json's quantization block for the modules' bits:
// group size 32 and the most common bits by default, an override for
// modules with other bits, false for modules left in float. Nil when no
// module is quantized.
func quantConfig(bits map[string]int) map[string]any {
	count := map[int]int{}
	for _, b := range bits {
		if b > 0 {
			count[b]++
		}
	}
	if len(count) == 0 {
		return nil
	}
	def := 0
	for _, b := range slices.Sorted(maps.Keys(count)) { // a tie goes to fewer bits
		if count[b] > count[def] {
			def = b
		}
	}
	q := map[string]any{"group_size": groupSize, "bits": def, "mode": metal.ModeAffine}
	for m, b := range bits {
		switch {
		case b == 0:
			q[m] = false
		case b != def:
			q[m] = map[string]any{"group_size": groupSize, "bits": b}
		}
	}
	return q
}

// validate builds the model from the written folder without evaluating its
// weights, so a tensor the architecture lacks, misses or sizes differently
// fails the import rather than the first load.
func validate(ctx context.Context, dir string) error {
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		return err
	}
	headers, err := model.WeightHeaders(dir)
	if err != nil {
		return err
	}
	return metal.Do(ctx, func() error {
		var err error
		metal.Scope(func() {
			weights := map[string]*metal.Array{}
			for _, h := range headers {
				arrays, _, lerr := metal.LoadSafetensors(h.Path)
				if lerr != nil {
					err = lerr
					return
				}
				maps.Copy(weights, arrays)
			}
			_, _, err = arch.Prepare(cfg, weights)
		})
		return err
	})
}
