package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/internal/llamacpp"
	"github.com/lmx-app/lmx/metal"
)

// llamaCppRuns is --runs' default with --compare-llamacpp: enough runs of
// each engine for a median and a range on a shared, noisy machine.
const llamaCppRuns = 10

// LlamaCppReport is what lmx bench --compare-llamacpp --json prints: both
// engines' figures over the same alternating runs of one workload on one
// GGUF, and LMX / llama.cpp of their medians.
type LlamaCppReport struct {
	Model        string `json:"model"`
	Dir          string `json:"dir"` // the GGUF's import that LMX loads
	PromptTokens int    `json:"prompt_tokens"`
	GenTokens    int    `json:"gen_tokens"`
	Seed         uint64 `json:"seed"`
	Runs         int    `json:"runs"`
	Threads      int    `json:"llama_cpp_threads"`
	MLXVersion   string `json:"mlx_version"`
	Device       string `json:"device"`
	DeviceName   string `json:"device_name"`
	NodeLlamaCpp string `json:"node_llama_cpp_version"`
	LlamaCpp     string `json:"llama_cpp_release"`
	// PeakPerRun says llama.cpp's peak memory is each run's own (Linux);
	// false: the process's lifetime peak, loading included.
	PeakPerRun bool `json:"llama_cpp_peak_per_run"`
	// Figures are keyed "lmx" and "llama_cpp".
	Figures map[string]Figures `json:"figures"`
	Ratio   Comparison         `json:"ratio"`
}

// timedRun runs the workload once through one engine.
type timedRun func(ctx context.Context) (sample, error)

// runLlamaCppBench is lmx bench --compare-llamacpp.
func runLlamaCppBench(ctx context.Context, f benchFlags, stdout, stderr io.Writer) int {
	rep, err := compareLlamaCpp(ctx, f)
	if err != nil {
		return fail(stderr, "bench", err)
	}
	if f.json {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return fail(stderr, "bench", err)
		}
		return 0
	}
	printLlamaCppReport(stdout, rep)
	return 0
}

// compareLlamaCpp loads the GGUF's import into LMX and the GGUF into
// llama.cpp, then times both on the same prompt ids.
func compareLlamaCpp(ctx context.Context, f benchFlags) (*LlamaCppReport, error) {
	if err := loadMLX(); err != nil {
		return nil, err
	}
	var err error
	if f.dir, err = modelDir(ctx, f.model); err != nil {
		return nil, err
	}
	ids, err := bench.PromptIDs(f.dir, f.w.PromptTokens, f.w.Seed)
	if err != nil {
		return nil, err
	}
	m, err := engine.Load(ctx, f.dir, engine.Options{})
	if err != nil {
		return nil, err
	}
	defer m.Close(context.WithoutCancel(ctx))
	ref, err := llamacpp.Start(llamacpp.Options{Model: f.model, Threads: f.threads,
		ContextSize: len(ids) + f.w.GenTokens, BatchSize: min(len(ids), prefillChunk)})
	if err != nil {
		return nil, err
	}
	defer ref.Close()
	samples, err := alternate(ctx, f.runs, lmxRun(m, ids, f.w.GenTokens), llamaCppRun(ref, ids, f.w.GenTokens))
	if err != nil {
		return nil, err
	}
	return newLlamaCppReport(ctx, f, ref.Info, samples[0], samples[1])
}

// lmxRun times one LMX run (lmxStep) as a sample.
func lmxRun(m *engine.Model, ids []int32, n int) timedRun {
	step := lmxStep(m, ids, n)
	return func(ctx context.Context) (sample, error) {
		s, err := step(ctx)
		return sampleOf(s.Run), err
	}
}

// llamaCppRun times one llama.cpp generation of n tokens after ids: the
// first token ends the prefill, as in LMX's timing, so n-1 follow it. The
// process's peak memory is restarted first.
func llamaCppRun(r *llamacpp.Runner, ids []int32, n int) timedRun {
	return func(context.Context) (sample, error) {
		if err := r.ResetPeak(); err != nil {
			return sample{}, err
		}
		b, err := r.Bench(ids, n-1)
		if err != nil {
			return sample{}, err
		}
		if b.DecodeTokens != n-1 || b.PrefillMs <= 0 || b.DecodeMs <= 0 {
			return sample{}, fmt.Errorf("llama.cpp bench: %+v, want %d decoded tokens", b, n-1)
		}
		mem, err := r.Memory()
		if err != nil {
			return sample{}, err
		}
		return sample{float64(b.PrefillTokens) / b.PrefillMs * 1e3, float64(b.DecodeTokens) / b.DecodeMs * 1e3,
			float64(mem.PeakRSS - mem.StartRSS), mem.PeakSinceReset}, nil
	}
}

// newLlamaCppReport summarizes both engines' samples.
func newLlamaCppReport(ctx context.Context, f benchFlags, info llamacpp.Info, lmx, ref []sample) (*LlamaCppReport, error) {
	rep := &LlamaCppReport{Model: f.model, Dir: f.dir, PromptTokens: f.w.PromptTokens, GenTokens: f.w.GenTokens,
		Seed: f.w.Seed, Runs: f.runs, Threads: f.threads, NodeLlamaCpp: info.Version, LlamaCpp: info.LlamaCpp,
		Figures:    map[string]Figures{"lmx": figuresOf(lmx), "llama_cpp": figuresOf(ref)},
		PeakPerRun: !slices.ContainsFunc(ref, func(s sample) bool { return !s.perRun })}
	rep.Ratio = compare(rep.Figures["lmx"], rep.Figures["llama_cpp"])
	err := metal.Do(ctx, func() error {
		rep.MLXVersion = metal.Version()
		rep.Device = metal.DefaultDevice().Type.String()
		info, err := metal.DeviceInfo()
		rep.DeviceName, _ = info["device_name"].(string)
		return err
	})
	return rep, err
}
