package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/metal"
)

// newResult fills the workload and model fields of LMX's result.
func newResult(info engine.Info, f benchFlags) *bench.Result {
	r := &bench.Result{Engine: "lmx", Model: f.model, ModelType: info.ModelType,
		PromptTokens: f.w.PromptTokens, GenTokens: f.w.GenTokens, Seed: f.w.Seed, Quantization: json.RawMessage("null")}
	if q := info.Quantization; q != nil {
		if data, err := json.Marshal(q); err == nil {
			r.Quantization = data
		}
	}
	return r
}

// deviceOf fills r's MLX version and device.
func deviceOf(ctx context.Context, r *bench.Result) error {
	return metal.Do(ctx, func() error {
		r.MLXVersion = metal.Version()
		r.Device = metal.DefaultDevice().Type.String()
		info, err := metal.DeviceInfo()
		if err != nil {
			return err
		}
		r.DeviceName, _ = info["device_name"].(string)
		return nil
	})
}

// addRuns sets r's runs and what mlx_lm_bench.py derives from them: the
// medians, the largest peak and the last run's tokens.
func addRuns(r *bench.Result, steps []bench.Step) {
	r.Runs = make([]bench.Run, len(steps))
	for i, s := range steps {
		r.Runs[i] = s.Run
		r.PeakMemoryBytes = max(r.PeakMemoryBytes, s.PeakMemoryBytes)
	}
	r.Generated = steps[len(steps)-1].Generated
	med := func(get func(bench.Run) float64) float64 {
		v := make([]float64, len(r.Runs))
		for i, run := range r.Runs {
			v[i] = get(run)
		}
		return median(v)
	}
	r.PrefillTPS = med(func(x bench.Run) float64 { return x.PrefillTPS })
	r.DecodeTPS = med(func(x bench.Run) float64 { return x.DecodeTPS })
	r.PrefillSeconds = med(func(x bench.Run) float64 { return x.PrefillSeconds })
	r.DecodeSeconds = med(func(x bench.Run) float64 { return x.DecodeSeconds })
}

// samplesOf is steps as samples, for figuresOf.
func samplesOf(steps []bench.Step) []sample {
	out := make([]sample, len(steps))
	for i, s := range steps {
		out[i] = sampleOf(s.Run)
	}
	return out
}

// median is Python's statistics.median: the middle value, or the mean of
// the two middle ones.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// printReport prints each engine's medians and ranges and, with mlx_lm,
// the ratios.
func printReport(w io.Writer, rep *Report) {
	l := rep.LMX
	fmt.Fprintf(w, "model %s (%s, quantization %s)\n", l.Model, l.ModelType, l.Quantization)
	fmt.Fprintf(w, "lmx: mlx %s, %s (%s)\n", l.MLXVersion, l.Device, l.DeviceName)
	order := "after a warm-up"
	if m := rep.MLXLM; m != nil {
		fmt.Fprintf(w, "mlx_lm: mlx_lm %s, mlx %s, %s (%s)\n", m.MLXLMVersion, m.MLXVersion, m.Device, m.DeviceName)
		order = "of each after a warm-up, alternating"
	}
	fmt.Fprintf(w, "prompt %d tokens, generate %d, %d runs %s; median (min–max)\n\n",
		l.PromptTokens, l.GenTokens, len(l.Runs), order)
	printFiguresHeader(w)
	printFigures(w, "lmx", rep.Figures["lmx"])
	if rep.MLXLM == nil {
		return
	}
	printFigures(w, "mlx_lm", rep.Figures["mlx_lm"])
	printComparison(w, "lmx/mlx_lm", *rep.Versus)
	fmt.Fprintln(w, "\npeak memory: MLX's peak allocation in each engine's process (weights, KV cache, activations)")
	fmt.Fprintln(w, "level: the two engines' ranges overlap")
	if !*rep.SameTokens {
		fmt.Fprintln(w, "note: the two engines generated different greedy tokens")
	}
}

// printLlamaCppReport prints both engines' medians and ranges and their
// ratios, and says what each peak memory figure measures.
func printLlamaCppReport(w io.Writer, rep *LlamaCppReport) {
	fmt.Fprintf(w, "model %s (LMX loads its import %s)\n", rep.Model, rep.Dir)
	fmt.Fprintf(w, "lmx: mlx %s, %s (%s)\n", rep.MLXVersion, rep.Device, rep.DeviceName)
	fmt.Fprintf(w, "llama.cpp: node-llama-cpp %s (llama.cpp %s), CPU, %d threads\n", rep.NodeLlamaCpp, rep.LlamaCpp, rep.Threads)
	fmt.Fprintf(w, "prompt %d tokens, generate %d, %d runs of each after a warm-up, alternating; median (min–max)\n\n",
		rep.PromptTokens, rep.GenTokens, rep.Runs)
	printFiguresHeader(w)
	printFigures(w, "lmx", rep.Figures["lmx"])
	printFigures(w, "llama.cpp", rep.Figures["llama_cpp"])
	printComparison(w, "lmx/llama.cpp", rep.Ratio)
	fmt.Fprintln(w, "\npeak memory: lmx = MLX's peak allocation (weights, KV cache, activations);")
	during := "during the run"
	if !rep.PeakPerRun {
		during = "over its lifetime (loading included: this system cannot restart the peak)"
	}
	fmt.Fprintf(w, "llama.cpp = the node process's peak RSS %s less its RSS before llama.cpp loaded\n", during)
	fmt.Fprintln(w, "(mapped weights, KV cache, buffers)")
	fmt.Fprintln(w, "level: the two engines' ranges overlap")
}
