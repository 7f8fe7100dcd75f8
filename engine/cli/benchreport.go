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
