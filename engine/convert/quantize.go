package convert

import (
	"fmt"
	"maps"
	"strings"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// output is the converted weight table: lazy arrays by output name (kept:
// save frees each once written) and the quantization block for config.json.
type output struct {
	arrays map[string]*metal.Array
	// quantConfig is the "quantization" object; nil when not quantizing.
	quantConfig map[string]any
}

// prepare loads, sanitizes and checks the weights, then casts and quantizes
// them. Must run on the MLX thread. Only the output arrays survive it: the
// loaded sources stay reachable through their lazy graphs until evaluated.
func (s *source) prepare(opts Options, res *Result) (*output, error) {
	var out *output
	var err error
	metal.Scope(func() {
		out, err = s.build(opts, res)
		if err == nil {
			for _, a := range out.arrays {
				a.Keep()
			}
		}
	})
	return out, err
}

// build produces the output table inside prepare's scope.
func (s *source) build(opts Options, res *Result) (*output, error) {
	weights := map[string]*metal.Array{}
	for _, h := range s.headers {
		arrays, _, err := metal.LoadSafetensors(h.Path)
		if err != nil {
			return nil, fmt.Errorf("load weights %s: %w", h.Path, err)
		}
		maps.Copy(weights, arrays)
	}
	// Building the model sanitizes the weights in place and checks every
	// tensor's presence and shape, so a bad checkpoint fails before writing.
	_, modules, err := arch.Prepare(s.cfg, weights)
	if err != nil {
		return nil, err
	}
	for _, a := range weights {
		res.TotalParams += int64(a.Size())
	}
	if dt, ok := dtypes[s.dtype]; ok {
		castFloats(weights, dt, keepDtype[s.cfg.ModelType])
	}
	out := &output{arrays: make(map[string]*metal.Array, len(weights))}
	if opts.Quantize {
		out.quantConfig = map[string]any{"group_size": opts.GroupSize, "bits": opts.Bits, "mode": opts.Mode}
		if err := s.quantize(weights, modules, opts, out.quantConfig, res); err != nil {
			return nil, err
		}
	}
	for name, a := range weights {
		out.arrays[s.arch.SavePrefix+name] = a
	}
	return out, metal.Err()
}

// castFloats converts every floating tensor to dt (mlx-lm's set_dtype),
// except those keep (may be nil) names.
func castFloats(weights map[string]*metal.Array, dt metal.Dtype, keep func(name string) bool) {
	for name, a := range weights {
		if a.Dtype().IsFloat() && a.Dtype() != dt && (keep == nil || !keep(name)) {
			weights[name] = metal.Astype(a, dt)
		}
	}
}

// keepDtype names, per model_type, the tensors a dtype cast leaves in the
// checkpoint's dtype, as mlx-lm's Model.cast_predicate does (mlx-lm 0.32):
// the gated delta decay A_log of Qwen3.5 (not Qwen3-Next, whose mlx-lm
// model casts it), and the routers' e_score_correction_bias of GLM-4 MoE
// and DeepSeek-V3 (with the model types mlx-lm remaps to it). Both feed
// float32 routing and decay math that a bfloat16 copy would round.
var keepDtype = map[string]func(name string) bool{
	"qwen3_5":          keepALog,
	"qwen3_5_moe":      keepALog,
	"qwen3_5_text":     keepALog,
	"qwen3_5_moe_text": keepALog,
	"glm4_moe":         keepScoreBias,
	"deepseek_v3":      keepScoreBias,
	"kimi_k2":          keepScoreBias,
	"joyai_llm_flash":  keepScoreBias,
}

// keepALog is mlx-lm's qwen3_5 cast_predicate, negated.
func keepALog(name string) bool { return strings.HasSuffix(name, "A_log") }

// keepScoreBias is mlx-lm's glm4_moe and deepseek_v3 cast_predicate, negated.
func keepScoreBias(name string) bool { return strings.Contains(name, "e_score_correction_bias") }

// quantize replaces the weight of each quantizable module whose input width
// is a multiple of the group size (the main one and the module's own) by its
// packed weight, scales and biases,
// as mlx-lm's quantize_model; the architecture's predicate may choose other
// parameters for a module, which the config then records.
func (s *source) quantize(weights map[string]*metal.Array, modules []string, opts Options,
	config map[string]any, res *Result) error {
	seen := map[string]bool{}
	for _, m := range modules {
		w, ok := weights[m+".weight"]
		if seen[m] || !ok {
			continue
		}
		seen[m] = true
		p := model.QuantParams{GroupSize: opts.GroupSize, Bits: opts.Bits, Mode: opts.Mode}
		override := false
		if s.arch.Quant != nil {
			if o := s.arch.Quant(m); o != nil {
				p, override = *o, true
			}
		}
		// A width that is no multiple of the main group size, or of the
		// module's own (an 8-bit group-64 MoE router on a hidden size of
		// 96), leaves the module in float, with no config entry: loaders
		// then find no scales and read it as float.
		if w.Dim(-1)%opts.GroupSize != 0 || w.Dim(-1)%p.GroupSize != 0 {
			res.Skipped = append(res.Skipped, s.arch.SavePrefix+m)
			continue
		}
		if override {
			config[s.arch.SavePrefix+m] = map[string]any{"group_size": p.GroupSize, "bits": p.Bits, "mode": p.Mode}
		}
		wq, scales, biases := metal.Quantize(w, p.GroupSize, p.Bits, p.Mode)
		if err := metal.Err(); err != nil {
			return fmt.Errorf("quantize %s (%d bits, group %d, %s): %w", m, p.Bits, p.GroupSize, p.Mode, err)
		}
		weights[m+".weight"], weights[m+".scales"] = wq, scales
		if biases != nil {
			weights[m+".biases"] = biases
		}
		res.Quantized = append(res.Quantized, s.arch.SavePrefix+m)
	}
	return nil
}
