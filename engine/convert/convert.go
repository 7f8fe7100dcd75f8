// Package convert turns a Hugging Face float checkpoint into an MLX model
// folder the way mlx-lm's convert does: the architecture's sanitize, an
// optional dtype cast, MLX quantization of the layers mlx-lm quantizes, and
// a folder (config.json with the quantization block, safetensors shards with
// their index, tokenizer and generation files) that both LMX and mlx_lm load.
package convert

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// DefaultShardBytes is mlx-lm's shard limit (MAX_FILE_SIZE_GB = 5, in GiB).
const DefaultShardBytes int64 = 5 << 30

// ErrExists is returned when the output folder already exists (as mlx-lm,
// Convert never writes into an existing folder).
var ErrExists = errors.New("output folder already exists")

// ErrQuantized is returned when asked to quantize an already quantized model.
var ErrQuantized = errors.New("model is already quantized")

// ErrOptions marks unusable conversion options.
var ErrOptions = errors.New("invalid conversion options")

// Options choose what Convert writes. The zero value copies the weights in
// the dtype config.json names.
type Options struct {
	// Quantize quantizes the quantizable layers with Bits, GroupSize, Mode.
	Quantize bool
	// Bits and GroupSize default to the mode's defaults (affine: 4 and 64).
	Bits, GroupSize int
	// Mode is an MLX quantization mode ("" means affine).
	Mode string
	// Dtype casts floating weights: "float16", "bfloat16" or "float32";
	// "" takes config.json's torch_dtype (or dtype) when it is one of these.
	Dtype string
	// ShardBytes bounds each safetensors file (0 means DefaultShardBytes);
	// a tensor larger than the bound gets a file of its own.
	ShardBytes int64
}

// Result describes a written model folder.
type Result struct {
	// Shards are the safetensors files written, in order.
	Shards []string
	// Quantized lists the modules quantized, named as written (with the
	// architecture's SavePrefix); Skipped the quantizable ones
	// left in float because their input width is not a multiple of the
	// group size (mlx-lm's rule) or of the module's own group size (a
	// per-module override).
	Quantized, Skipped []string
	// TotalBytes and TotalParams are the index metadata.
	TotalBytes, TotalParams int64
	// Dtype is the floating dtype written ("" when unchanged).
	Dtype string
}

// BitsPerWeight is the storage cost per parameter (mlx-lm prints it after
// quantizing).
func (r *Result) BitsPerWeight() float64 {
	if r.TotalParams == 0 {
		return 0
	}
	return float64(r.TotalBytes) * 8 / float64(r.TotalParams)
}

// modeDefaults are mlx-lm's group size and bits per mode.
var modeDefaults = map[string][2]int{
	metal.ModeAffine: {64, 4}, metal.ModeMXFP4: {32, 4}, metal.ModeNVFP4: {16, 4}, metal.ModeMXFP8: {32, 8},
}

// withDefaults fills the mode's defaults and checks the options.
func (o Options) withDefaults() (Options, error) {
	if o.Mode == "" {
		o.Mode = metal.ModeAffine
	}
	def, ok := modeDefaults[o.Mode]
	if !ok {
		return o, fmt.Errorf("%w: mode %q (want affine, mxfp4, mxfp8 or nvfp4)", ErrOptions, o.Mode)
	}
	if o.GroupSize == 0 {
		o.GroupSize = def[0]
	}
	if o.Bits == 0 {
		o.Bits = def[1]
	}
	if o.GroupSize < 0 || o.Bits < 0 {
		return o, fmt.Errorf("%w: bits %d, group size %d", ErrOptions, o.Bits, o.GroupSize)
	}
	if _, ok := dtypes[o.Dtype]; !ok && o.Dtype != "" {
		return o, fmt.Errorf("%w: dtype %q (want float16, bfloat16 or float32)", ErrOptions, o.Dtype)
	}
	if o.ShardBytes <= 0 {
		o.ShardBytes = DefaultShardBytes
	}
	return o, nil
}

// dtypes are the floating dtypes a conversion can write.
var dtypes = map[string]metal.Dtype{"float16": metal.Float16, "bfloat16": metal.BFloat16, "float32": metal.Float32}

// Convert reads the model folder src and writes the converted model to dst,
// which must not exist; on failure dst is removed. The MLX work runs on the
// metal thread; the weights are read lazily and each shard is freed once
// written, so peak memory stays near one shard plus its sources.
func Convert(ctx context.Context, src, dst string, opts Options) (*Result, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dst); err == nil {
		return nil, fmt.Errorf("convert to %s: %w", dst, ErrExists)
	}
	s, err := readSource(src, opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	res, err := write(ctx, s, dst, opts)
	if err != nil {
		os.RemoveAll(dst)
		return nil, fmt.Errorf("convert %s: %w", src, err)
	}
	return res, nil
}

// write produces the weights, config and copied files in dst.
func write(ctx context.Context, s *source, dst string, opts Options) (*Result, error) {
	res := &Result{Dtype: s.dtype}
	var quant map[string]any
	err := metal.Do(ctx, func() error {
		w, err := s.prepare(opts, res)
		if err != nil {
			return err
		}
		quant = w.quantConfig
		return w.save(ctx, dst, opts.ShardBytes, res)
	})
	if err != nil {
		return nil, err
	}
	if err := writeConfig(s, dst, quant); err != nil {
		return nil, err
	}
	if err := copyFiles(s.dir, dst); err != nil {
		return nil, err
	}
	return res, nil
}

// source is a model folder about to be converted.
type source struct {
	dir     string
	cfg     *model.Config
	arch    arch.Arch
	headers []*model.Header
	dtype   string // target floating dtype, "" to keep
}

// readSource reads the config and the weight headers of src.
func readSource(dir string, opts Options) (*source, error) {
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	a, err := arch.Lookup(cfg.ModelType)
	if err != nil {
		return nil, err
	}
	if opts.Quantize && cfg.Quantization != nil {
		return nil, fmt.Errorf("convert %s: %w", dir, ErrQuantized)
	}
	headers, err := model.WeightHeaders(dir)
	if err != nil {
		return nil, err
	}
	s := &source{dir: dir, cfg: cfg, arch: a, headers: headers, dtype: opts.Dtype}
	if s.dtype == "" {
		s.dtype = configDtype(cfg)
	}
	return s, nil
}

// configDtype is the weight dtype config.json names (torch_dtype, then
// dtype, then text_config.dtype), or "" when it names none of dtypes.
func configDtype(cfg *model.Config) string {
	var j struct {
		TorchDtype string `json:"torch_dtype"`
		Dtype      string `json:"dtype"`
		Text       struct {
			Dtype string `json:"dtype"`
		} `json:"text_config"`
	}
	if cfg.Decode(&j) != nil {
		return ""
	}
	for _, d := range []string{j.TorchDtype, j.Dtype, j.Text.Dtype} {
		if _, ok := dtypes[d]; ok {
			return d
		}
	}
	return ""
}
