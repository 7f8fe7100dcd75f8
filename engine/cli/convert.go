package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lmx-app/lmx/engine/convert"
	"github.com/lmx-app/lmx/engine/gguf"
	"github.com/lmx-app/lmx/internal/cmdflag"
)

const convertUsage = `convert HF_FOLDER|FILE.gguf OUT [--quantize] [--bits 4] [--group-size 64] [--mode affine]
       [--dtype float16|bfloat16|float32]`

// RunConvert is "lmx convert": it converts a Hugging Face float checkpoint,
// or a llama.cpp GGUF file, into an MLX model folder (quantized with
// --quantize) that LMX and mlx_lm both load.
func RunConvert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdflag.New("convert", convertUsage, stderr)
	var o convert.Options
	fs.BoolVar(&o.Quantize, "quantize", false, "quantize the linear and embedding layers")
	fs.BoolVar(&o.Quantize, "q", false, "shorthand for --quantize")
	fs.IntVar(&o.Bits, "bits", 0, "bits per weight (default: the mode's, 4 for affine)")
	fs.IntVar(&o.GroupSize, "group-size", 0, "weights per quantization group (default: the mode's, 64 for affine)")
	fs.StringVar(&o.Mode, "mode", "affine", "quantization mode: affine, mxfp4, mxfp8 or nvfp4")
	fs.StringVar(&o.Dtype, "dtype", "", "floating dtype to write (default: config.json's torch_dtype; float32 for GGUF)")
	pos, err := cmdflag.Parse(fs, args)
	if err != nil {
		return usageError(err)
	}
	if len(pos) != 2 {
		fs.Usage()
		return 2
	}
	if err := loadMLX(); err != nil {
		return fail(stderr, "convert", err)
	}
	var res *convert.Result
	if isGGUF(pos[0]) {
		res, err = convertGGUF(ctx, pos[0], pos[1], o)
	} else {
		res, err = convert.Convert(ctx, pos[0], pos[1], o)
	}
	if err != nil {
		return fail(stderr, "convert", err)
	}
	if res == nil {
		fmt.Fprintf(stdout, "wrote %s from %s\n", pos[1], filepath.Base(pos[0]))
		return 0
	}
	report(stdout, pos[1], o, res)
	return 0
}

// isGGUF reports whether src is a GGUF file: a file named *.gguf, or any
// file that starts with the GGUF magic (a folder is a Hugging Face model).
func isGGUF(src string) bool {
	if gguf.IsGGUF(src) {
		return true
	}
	f, err := os.Open(src)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err == nil && string(magic) == "GGUF"
}

// convertGGUF imports a GGUF file into dst, keeping the weights whose type
// is exact MLX affine quantization (gguf.Options) quantized; with --quantize it imports every weight in float into
// a temporary folder beside dst and quantizes that with engine/convert,
// returning its result (nil without --quantize).
func convertGGUF(ctx context.Context, src, dst string, o convert.Options) (*convert.Result, error) {
	if _, err := os.Stat(dst); err == nil {
		return nil, fmt.Errorf("convert to %s: %w", dst, convert.ErrExists)
	}
	if !o.Quantize {
		return nil, gguf.Import(ctx, src, dst, gguf.Options{Dtype: o.Dtype})
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".gguf-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	float := filepath.Join(tmp, "model")
	if err := gguf.Import(ctx, src, float, gguf.Options{Dtype: o.Dtype, Dequantize: true}); err != nil {
		return nil, err
	}
	return convert.Convert(ctx, float, dst, o)
}

// report prints what was written.
func report(w io.Writer, dst string, o convert.Options, res *convert.Result) {
	if res.Dtype != "" {
		fmt.Fprintf(w, "dtype: %s\n", res.Dtype)
	}
	if o.Quantize {
		fmt.Fprintf(w, "quantized %d modules, %.3f bits per weight\n", len(res.Quantized), res.BitsPerWeight())
	}
	if len(res.Skipped) > 0 {
		fmt.Fprintf(w, "left in float (input width not a multiple of the group size): %s\n", strings.Join(res.Skipped, ", "))
	}
	fmt.Fprintf(w, "wrote %s: %d parameters, %s in %s\n", dst, res.TotalParams, mib(res.TotalBytes), strings.Join(res.Shards, ", "))
}
