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

// finishResult adds the medians, the peak memory and the device.
func finishResult(ctx context.Context, r *bench.Result) error {
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
	return metal.Do(ctx, func() error {
		r.PeakMemoryBytes = metal.PeakMemory()
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

// printReport prints the figures side by side.
func printReport(w io.Writer, rep *Report) {
	l := rep.LMX
	fmt.Fprintf(w, "model %s (%s, quantization %s)\n", l.Model, l.ModelType, l.Quantization)
	fmt.Fprintf(w, "mlx %s, %s (%s)\n", l.MLXVersion, l.Device, l.DeviceName)
	fmt.Fprintf(w, "prompt %d tokens, generate %d, %d runs (median)\n\n", l.PromptTokens, l.GenTokens, len(l.Runs))
	fmt.Fprintf(w, "%-12s %14s %14s %12s\n", "", "prefill tok/s", "decode tok/s", "peak memory")
	row := func(name string, r *bench.Result) {
		fmt.Fprintf(w, "%-12s %14.1f %14.1f %12s\n", name, r.PrefillTPS, r.DecodeTPS, mib(r.PeakMemoryBytes))
	}
	row("lmx", l)
	if rep.MLXLM == nil {
		return
	}
	row("mlx_lm "+rep.MLXLM.MLXLMVersion, rep.MLXLM)
	fmt.Fprintf(w, "%-12s %13.2fx %13.2fx\n", "lmx/mlx_lm", rep.Ratio.Prefill, rep.Ratio.Decode)
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
	fmt.Fprintf(w, "%-14s %-24s %-24s %-24s\n", "", "prefill tok/s", "decode tok/s", "peak memory MiB")
	for _, e := range []struct{ name, key string }{{"lmx", "lmx"}, {"llama.cpp", "llama_cpp"}} {
		f := rep.Figures[e.key]
		fmt.Fprintf(w, "%-14s %-24s %-24s %-24s\n", e.name, spread(f.PrefillTPS, 1), spread(f.DecodeTPS, 1),
			spread(f.PeakMemoryBytes, 1<<20))
	}
	r := rep.Ratio
	fmt.Fprintf(w, "%-14s %-24s %-24s %-24s\n", "lmx/llama.cpp", versus(r.Prefill), versus(r.Decode), versus(r.Memory))
	fmt.Fprintln(w, "\npeak memory: lmx = MLX's peak allocation (weights, KV cache, activations);")
	during := "during the run"
	if !rep.PeakPerRun {
		during = "over its lifetime (loading included: this system cannot restart the peak)"
	}
	fmt.Fprintf(w, "llama.cpp = the node process's peak RSS %s less its RSS before llama.cpp loaded\n", during)
	fmt.Fprintln(w, "(mapped weights, KV cache, buffers)")
	fmt.Fprintln(w, "level: the two engines' ranges overlap")
}

// spread formats a median and range, each divided by unit.
func spread(s Spread, unit float64) string {
	return fmt.Sprintf("%.1f (%.1f–%.1f)", s.Median/unit, s.Min/unit, s.Max/unit)
}

// versus formats a ratio, marked level when the ranges overlap.
func versus(v Versus) string {
	if v.Level {
		return fmt.Sprintf("%.2fx level", v.Ratio)
	}
	return fmt.Sprintf("%.2fx", v.Ratio)
}
