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
// workload and the ratios LMX / mlx_lm of the median speeds.
type Report struct {
	LMX   *bench.Result `json:"lmx"`
	MLXLM *bench.Result `json:"mlx_lm"`
	Ratio *Ratio        `json:"ratio"`
	// SameTokens reports whether both generated the same greedy tokens.
	SameTokens *bool `json:"same_tokens"`
}

// Ratio holds LMX / mlx_lm speed ratios (above 1: LMX is faster).
type Ratio struct {
	Prefill float64 `json:"prefill_tps"`
	Decode  float64 `json:"decode_tps"`
}

// RunBench is "lmx bench": it runs the benchmark workload of
// engine/bench/mlx_lm_bench.py (same prompt ids, greedy, EOS ignored, a
// warm-up then median of --runs) through the LMX engine and, with
// --compare-mlx-lm, through mlx_lm on the same folder, printing both and
// their ratio. With --compare-llamacpp it runs the same prompt ids through
// LMX and llama.cpp on one GGUF, alternating run by run (benchllama.go).
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
	fs.IntVar(&f.runs, "runs", 3, "timed runs (the median is reported)")
	fs.BoolVar(&f.compare, "compare-mlx-lm", false, "also run engine/bench/mlx_lm_bench.py on the same folder")
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

// runBench runs LMX and, on request, mlx_lm.
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
	lmx, err := benchLMX(ctx, f)
	if err != nil {
		return nil, err
	}
	rep := &Report{LMX: lmx}
	if !f.compare {
		return rep, nil
	}
	if rep.MLXLM, err = py.Bench(ctx, f.dir, f.w, f.runs); err != nil {
		return nil, err
	}
	rep.Ratio = &Ratio{Prefill: lmx.PrefillTPS / rep.MLXLM.PrefillTPS, Decode: lmx.DecodeTPS / rep.MLXLM.DecodeTPS}
	same := slices.Equal(lmx.Generated, rep.MLXLM.Generated)
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

// benchLMX runs the workload through the engine: one untimed warm-up, then
// f.runs timed runs with the cache cleared between them.
func benchLMX(ctx context.Context, f benchFlags) (*bench.Result, error) {
	ids, err := bench.PromptIDs(f.dir, f.w.PromptTokens, f.w.Seed)
	if err != nil {
		return nil, err
	}
	m, err := engine.Load(ctx, f.dir, engine.Options{})
	if err != nil {
		return nil, err
	}
	defer m.Close(context.WithoutCancel(ctx))
	if _, _, err := benchRun(ctx, m, ids, f.w.GenTokens); err != nil {
		return nil, err
	}
	if err := resetMemory(ctx, true); err != nil {
		return nil, err
	}
	if f.cpuprofile != "" {
		stop, err := startProfile(f.cpuprofile)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	res := newResult(m.Info(), f)
	for range f.runs {
		run, tokens, err := benchRun(ctx, m, ids, f.w.GenTokens)
		if err != nil {
			return nil, err
		}
		res.Runs, res.Generated = append(res.Runs, run), tokens
		if err := resetMemory(ctx, false); err != nil {
			return nil, err
		}
	}
	return res, finishResult(ctx, res)
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

// resetMemory clears MLX's buffer cache and, with peak, its peak counter.
func resetMemory(ctx context.Context, peak bool) error {
	return metal.Do(ctx, func() error {
		metal.ClearCache()
		if peak {
			metal.ResetPeakMemory()
		}
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
