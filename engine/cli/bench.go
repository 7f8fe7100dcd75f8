package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/bench"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/gguf"
	"github.com/lmx-app/lmx/internal/cmdflag"
	"github.com/lmx-app/lmx/metal"
)

const benchUsage = `bench --model DIR|FILE.gguf [--prompt-tokens 512] [--gen-tokens 128] [--runs 3] [--seed 0]
       [--compare-mlx-lm] [--python PATH] [--json] [--cpuprofile FILE]
       [--compare-llamacpp] [--threads N]     (--model FILE.gguf; --runs defaults to 10)
       bench serve --model DIR --a URL [--b URL] ...   (OpenAI-compatible servers over HTTP; lmx bench serve -h)`

// prefillChunk is mlx_lm's generate_step prefill step, which the workload
// definition (mlx_lm_bench.py) fixes.
const prefillChunk = 2048

// benchFlags are the options of lmx bench.
type benchFlags struct {
	model      string
	dir        string // the model folder: model, or its import when a GGUF
	w          bench.Workload
	runs       int
	compare    bool
	python     string
	json       bool
	cpuprofile string
	llamacpp   bool
	threads    int
}

// Report is what lmx bench --json prints: LMX's figures in the schema of
// mlx_lm_bench.py --json and, with --compare-mlx-lm, mlx_lm's on the same
// workload (the two engines' runs alternating) and the ratios LMX / mlx_lm
// of the median speeds. Each Result's runs carry their start times and
// peaks; its PeakMemoryBytes is the largest run's, Generated the last run's.
type Report struct {
	LMX   *bench.Result `json:"lmx"`
	MLXLM *bench.Result `json:"mlx_lm"`
	Ratio *Ratio        `json:"ratio"`
	// SameTokens reports whether both generated the same greedy tokens.
	SameTokens *bool `json:"same_tokens"`
	// Figures are each engine's median and range over its runs, keyed
	// "lmx" and, with --compare-mlx-lm, "mlx_lm".
	Figures map[string]Figures `json:"figures"`
	// Versus is LMX / mlx_lm of each figure's median, level where the two
	// ranges overlap; with --compare-mlx-lm.
	Versus *Comparison `json:"versus"`
}

// Ratio holds LMX / mlx_lm of the median speeds (above 1: LMX is faster).
type Ratio struct {
	Prefill float64 `json:"prefill_tps"`
	Decode  float64 `json:"decode_tps"`
}

// RunBench is "lmx bench": it runs the benchmark workload of
// engine/bench/mlx_lm_bench.py (same prompt ids, greedy, EOS ignored, a
// warm-up then median and range of --runs) through the LMX engine and, with
// --compare-mlx-lm, through mlx_lm on the same folder, alternating the two
// run by run, printing both and their ratio. With --compare-llamacpp it
// runs the same prompt ids through LMX and llama.cpp on one GGUF, also
// alternating run by run (benchllama.go).
// "lmx bench serve" is the HTTP load generator (benchserve.go).
func RunBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "serve" {
		return runBenchServe(ctx, args[1:], stdout, stderr)
	}
	f, code := parseBench(args, stderr)
	if code >= 0 {
		return code
	}
	if f.llamacpp {
		return runLlamaCppBench(ctx, f, stdout, stderr)
	}
	rep, err := runBench(ctx, f)
	if err != nil {
		return fail(stderr, "bench", err)
	}
	if f.json {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(rep); err != nil {
			return fail(stderr, "bench", err)
		}
		return 0
	}
	printReport(stdout, rep)
	return 0
}

// parseBench parses the flags; code is -1 to go on, else the exit code.
func parseBench(args []string, stderr io.Writer) (benchFlags, int) {
	fs := cmdflag.New("bench", benchUsage, stderr)
	var f benchFlags
	fs.StringVar(&f.model, "model", "", "model folder or GGUF file")
	fs.IntVar(&f.w.PromptTokens, "prompt-tokens", 512, "prompt length in tokens")
	fs.IntVar(&f.w.GenTokens, "gen-tokens", 128, "tokens to generate (at least 2)")
	fs.Uint64Var(&f.w.Seed, "seed", 0, "seed of the prompt ids")
	fs.IntVar(&f.runs, "runs", 3, "timed runs of each engine (median and range are reported)")
	fs.BoolVar(&f.compare, "compare-mlx-lm", false, "also run mlx_lm (engine/bench/mlx_lm_bench.py) on the same folder, alternating with LMX run by run")
	fs.StringVar(&f.python, "python", "", "Python with mlx_lm (default $LMX_PYTHON or the repository's .venv/bin/python)")
	fs.BoolVar(&f.json, "json", false, "print one JSON object")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of LMX's timed runs to FILE")
	fs.BoolVar(&f.llamacpp, "compare-llamacpp", false, "run llama.cpp (node-llama-cpp) on the same GGUF, alternating with LMX run by run")
	fs.IntVar(&f.threads, "threads", runtime.NumCPU(), "llama.cpp's CPU threads")
	rest, err := cmdflag.Parse(fs, args)
	if err != nil {
		return f, usageError(err)
	}
	if f.llamacpp && !isSet(fs, "runs") {
		f.runs = llamaCppRuns
	}
	if f.model == "" || len(rest) > 0 || f.w.PromptTokens < 1 || f.w.GenTokens < 2 || f.runs < 1 || f.threads < 1 ||
		(f.llamacpp && (f.compare || f.cpuprofile != "" || !gguf.IsGGUF(f.model))) {
		fs.Usage()
		return f, 2
	}
	return f, -1
}

// runBench loads the model into LMX and, on request, into a stepped
// mlx_lm process, warms each up once and runs them in turn (ABAB…).
func runBench(ctx context.Context, f benchFlags) (*Report, error) {
	if err := loadMLX(); err != nil {
		return nil, err
	}
	var err error
	if f.dir, err = modelDir(ctx, f.model); err != nil {
		return nil, err
	}
	var py bench.Python
	if f.compare {
		if py, err = pythonRunner(f.python); err != nil {
			return nil, err
		}
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
	engines := []engineStep{lmxStep(m, ids, f.w.GenTokens)}
	var ref *bench.BenchProcess
	if f.compare {
		if ref, err = py.StartBench(ctx, f.dir, f.w); err != nil {
			return nil, err
		}
		defer ref.Close()
		engines = append(engines, ref.Run)
	}
	steps, err := timeEngines(ctx, f, engines)
	if err != nil {
		return nil, err
	}
	return newReport(ctx, f, m.Info(), ref, steps)
}

// engineStep is one timed run of one engine.
type engineStep = func(context.Context) (bench.Step, error)

// timeEngines warms the engines up, then alternates f.runs timed runs of
// each; a CPU profile, when asked for, covers the timed runs only.
func timeEngines(ctx context.Context, f benchFlags, engines []engineStep) ([][]bench.Step, error) {
	if err := warmUp(ctx, engines...); err != nil {
		return nil, err
	}
	if f.cpuprofile != "" {
		stop, err := startProfile(f.cpuprofile)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	return interleave(ctx, f.runs, engines...)
}

// newReport summarizes the runs: steps[0] are LMX's, steps[1] mlx_lm's
// when ref is not nil.
func newReport(ctx context.Context, f benchFlags, info engine.Info, ref *bench.BenchProcess, steps [][]bench.Step) (*Report, error) {
	rep := &Report{LMX: newResult(info, f), Figures: map[string]Figures{}}
	if err := deviceOf(ctx, rep.LMX); err != nil {
		return nil, err
	}
	addRuns(rep.LMX, steps[0])
	rep.Figures["lmx"] = figuresOf(samplesOf(steps[0]))
	if ref == nil {
		return rep, nil
	}
	h := ref.Header()
	rep.MLXLM = &h
	addRuns(rep.MLXLM, steps[1])
	rep.Figures["mlx_lm"] = figuresOf(samplesOf(steps[1]))
	rep.Ratio = &Ratio{Prefill: rep.LMX.PrefillTPS / rep.MLXLM.PrefillTPS, Decode: rep.LMX.DecodeTPS / rep.MLXLM.DecodeTPS}
	vs := compare(rep.Figures["lmx"], rep.Figures["mlx_lm"])
	rep.Versus = &vs
	same := slices.Equal(rep.LMX.Generated, rep.MLXLM.Generated)
	rep.SameTokens = &same
	return rep, nil
}

// pythonRunner finds the interpreter and the repository holding the scripts
// (searched upwards from the working directory and the executable).
func pythonRunner(interpreter string) (bench.Python, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for ; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, bench.BenchScript)); err == nil {
				return bench.Python{Interpreter: defaultPython(interpreter, dir), Root: dir}, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return bench.Python{}, fmt.Errorf("--compare-mlx-lm: %s not found above %v; run lmx bench from the LMX repository", bench.BenchScript, starts)
}

// defaultPython is the interpreter flag, else $LMX_PYTHON, else root/.venv.
func defaultPython(flag, root string) string {
	switch {
	case flag != "":
		return flag
	case os.Getenv("LMX_PYTHON") != "":
		return os.Getenv("LMX_PYTHON")
	}
	return filepath.Join(root, ".venv", "bin", "python")
}

// lmxStep times one LMX generation of n tokens after ids as
// mlx_lm_bench.py times mlx_lm's: MLX's buffer cache empty and its peak
// counter restarted first.
func lmxStep(m *engine.Model, ids []int32, n int) engineStep {
	return func(ctx context.Context) (bench.Step, error) {
		if err := resetMemory(ctx); err != nil {
			return bench.Step{}, err
		}
		started := time.Now()
		run, tokens, err := benchRun(ctx, m, ids, n)
		if err != nil {
			return bench.Step{}, fmt.Errorf("lmx: %w", err)
		}
		run.Started = started
		err = metal.Do(ctx, func() error { run.PeakMemoryBytes = metal.PeakMemory(); return nil })
		return bench.Step{Run: run, Generated: tokens}, err
	}
}

// benchRun generates exactly n greedy tokens after ids and times it as
// mlx_lm_bench.py does.
func benchRun(ctx context.Context, m *engine.Model, ids []int32, n int) (bench.Run, []int32, error) {
	var clock stepClock
	clock.start()
	res, err := m.Generate(ctx, engine.Request{IgnoreEOS: true, Request: generate.Request{
		Prompt: ids, MaxTokens: n, PrefillChunk: prefillChunk,
	}}, func(generate.Token) bool { clock.tick(); return false })
	if err != nil {
		return bench.Run{}, nil, err
	}
	if len(res.Tokens) != n {
		return bench.Run{}, nil, fmt.Errorf("generated %d tokens, want %d", len(res.Tokens), n)
	}
	p, d := clock.prefill().Seconds(), clock.decode().Seconds()
	return bench.Run{PrefillSeconds: p, DecodeSeconds: d, PrefillTPS: float64(len(ids)) / p,
		DecodeTPS: clock.decodeTPS()}, res.Tokens, nil
}

// resetMemory clears MLX's buffer cache and restarts its peak counter.
func resetMemory(ctx context.Context) error {
	return metal.Do(ctx, func() error {
		metal.ClearCache()
		metal.ResetPeakMemory()
		return nil
	})
}

// startProfile starts a CPU profile written to path by the returned stop.
func startProfile(path string) (func(), error) {
	out, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); out.Close() }, nil
}
