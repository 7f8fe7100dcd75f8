package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/lmx-app/lmx/engine/convert"
	"github.com/lmx-app/lmx/internal/cmdflag"
)

const convertUsage = `convert HF_FOLDER OUT [--quantize] [--bits 4] [--group-size 64] [--mode affine]
       [--dtype float16|bfloat16|float32]`

// RunConvert is "lmx convert": it converts a Hugging Face float checkpoint
// into an MLX model folder (quantized with --quantize) that LMX and mlx_lm
// both load.
func RunConvert(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdflag.New("convert", convertUsage, stderr)
	var o convert.Options
	fs.BoolVar(&o.Quantize, "quantize", false, "quantize the linear and embedding layers")
	fs.BoolVar(&o.Quantize, "q", false, "shorthand for --quantize")
	fs.IntVar(&o.Bits, "bits", 0, "bits per weight (default: the mode's, 4 for affine)")
	fs.IntVar(&o.GroupSize, "group-size", 0, "weights per quantization group (default: the mode's, 64 for affine)")
	fs.StringVar(&o.Mode, "mode", "affine", "quantization mode: affine, mxfp4, mxfp8 or nvfp4")
	fs.StringVar(&o.Dtype, "dtype", "", "floating dtype to write (default: config.json's torch_dtype)")
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
	res, err := convert.Convert(ctx, pos[0], pos[1], o)
	if err != nil {
		return fail(stderr, "convert", err)
	}
	report(stdout, pos[1], o, res)
	return 0
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
