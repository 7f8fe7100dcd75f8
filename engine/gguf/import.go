package gguf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lmx-app/lmx/engine/convert"
	"github.com/lmx-app/lmx/metal"
)

// ErrOptions marks unusable import options.
var ErrOptions = errors.New("invalid GGUF import options")

// Options choose how Import writes the model. The zero value keeps Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q4_K and Q5_K weights quantized (their groups of
// 32 are exact MLX affine groups) and writes everything else in float32.
type Options struct {
	// Dtype is the float dtype of dequantized tensors and of quantization
	// scales and biases: "float32" (the default: llama.cpp computes in
	// float32), "float16" or "bfloat16". A quantized weight whose scales
	// the dtype cannot hold exactly is dequantized instead.
	Dtype string
	// Dequantize writes every weight in Dtype, none quantized (the input
	// lmx convert --quantize hands to engine/convert).
	Dequantize bool
	// ShardBytes bounds each safetensors file (0: convert.DefaultShardBytes).
	ShardBytes int64
}

// dtypes are the float dtypes Import writes.
var dtypes = map[string]metal.Dtype{"float32": metal.Float32, "float16": metal.Float16, "bfloat16": metal.BFloat16}

// withDefaults fills the defaults and checks the options.
func (o Options) withDefaults() (Options, error) {
	if o.Dtype == "" {
		o.Dtype = "float32"
	}
	if _, ok := dtypes[o.Dtype]; !ok {
		return o, fmt.Errorf("%w: dtype %q (want float32, float16 or bfloat16)", ErrOptions, o.Dtype)
	}
	if o.ShardBytes <= 0 {
		o.ShardBytes = convert.DefaultShardBytes
	}
	return o, nil
}

// Import converts the GGUF file at path into an MLX model folder at
// outDir, which must not exist: config.json and generation_config.json
// from the metadata, the weights under their Hugging Face names (with
// llama.cpp's changes undone), and the tokenizer files. It writes into a
// temporary folder beside outDir and renames it at the end, so a failure
// leaves no outDir. The MLX work runs on the metal thread.
func Import(ctx context.Context, path, outDir string, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if _, err := os.Stat(outDir); err == nil {
		return fmt.Errorf("import %s to %s: %w", path, outDir, convert.ErrExists)
	}
	f, err := Open(path)
	if err != nil {
		return err
	}
	im, err := newImporter(f, opts)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(outDir), 0o755); err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(outDir), "."+filepath.Base(outDir)+".partial-")
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if err := im.writeFolder(ctx, tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("import %s: %w", path, err)
	}
	if err := os.Rename(tmp, outDir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("import %s: %w", path, err)
	}
	return nil
}

// writeFolder writes every file of the model folder into dir and checks
// that the engine can build the model from it.
func (im *importer) writeFolder(ctx context.Context, dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	quant, err := im.writeWeights(ctx, dir)
	if err != nil {
		return err
	}
	if quant != nil {
		im.cfg["quantization"], im.cfg["quantization_config"] = quant, quant
	}
	if err := convert.WriteJSON(filepath.Join(dir, "config.json"), im.cfg); err != nil {
		return err
	}
	if err := convert.WriteJSON(filepath.Join(dir, "generation_config.json"), im.gen); err != nil {
		return err
	}
	if err := WriteTokenizerFiles(dir, im.f.Metadata); err != nil {
		return fmt.Errorf("write tokenizer: %w", err)
	}
	return validate(ctx, dir)
}

// importer holds one import: the file, its family and sizes, the tensor
// plan and the config being built.
type importer struct {
	f       *File
	fam     family
	h       *hparams
	opts    Options
	tensors []planned
	cfg     map[string]any
	gen     map[string]any
}

// planned is one GGUF tensor on its way out.
type planned struct {
	src TensorInfo
	mapped
	heads int // > 0: undo the Q/K row permutation over this many heads
}

// newImporter reads the family, sizes and tensor plan and builds the config.
func newImporter(f *File, opts Options) (*importer, error) {
	name, fam, err := lookupFamily(f)
	if err != nil {
		return nil, err
	}
	m := meta{f: f, arch: name}
	h, err := readHParams(m)
	if err != nil {
		return nil, err
	}
	im := &importer{f: f, fam: fam, h: h, opts: opts, gen: map[string]any{}}
	if err := im.plan(name); err != nil {
		return nil, err
	}
	embed, _ := f.Tensor("token_embd.weight")
	_, untied := f.Tensor("output.weight")
	im.cfg = baseConfig(fam, h, int(embed.Dims[len(embed.Dims)-1]), !untied, opts.Dtype)
	if err := familyConfig(name, m, h, im.cfg); err != nil {
		return nil, err
	}
	return im, tokenIDs(m, im.cfg, im.gen)
}

// plan maps every tensor, refusing ones the family does not have.
func (im *importer) plan(arch string) error {
	skip := map[string]bool{}
	for _, n := range ropeTensors[arch] {
		skip[n] = true
	}
	for _, t := range im.f.Tensors {
		if skip[t.Name] {
			continue
		}
		mp, ok := im.fam.hfName(t.Name, im.h.layers)
		if !ok {
			return fmt.Errorf("%s: %w: tensor %q is not part of a %s model LMX knows", im.f.Path, ErrUnsupported, t.Name, arch)
		}
		p := planned{src: t, mapped: mp}
		if im.fam.permuteQK && mp.stem == "attn_q" {
			p.heads = im.h.heads
		} else if im.fam.permuteQK && mp.stem == "attn_k" {
			p.heads = im.h.kvHeads
		}
		im.tensors = append(im.tensors, p)
	}
	if _, ok := im.f.Tensor("token_embd.weight"); !ok {
		return fmt.Errorf("%s: %w: no token_embd.weight tensor", im.f.Path, ErrCorrupt)
	}
	return nil
}
