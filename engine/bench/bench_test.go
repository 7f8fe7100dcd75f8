package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/internal/testutil"
)

// pythonOrSkip returns the script runner, skipping when the project venv
// (with mlx_lm) is missing unless LMX_REQUIRE_PY=1.
func pythonOrSkip(t *testing.T) Python {
	t.Helper()
	py := testutil.Python(t)
	reason := "no Python venv (.venv/bin/python or $LMX_PYTHON); run build/setup.sh py"
	if py != "" {
		if out, err := exec.Command(py, "-c", "import mlx_lm").CombinedOutput(); err != nil {
			py, reason = "", "mlx_lm not importable by "+py+": "+lastLines(string(out), 3)
		}
	}
	if py == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", reason)
	}
	return Python{Interpreter: py, Root: testutil.RepoRoot(t)}
}

// makeTiny writes a 4-bit tiny-qwen3 folder with the real Qwen3 tokenizer.
func makeTiny(t *testing.T, p Python, seed int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny-qwen3-4bit")
	_, err := p.Run(context.Background(), MakeModelScript, "--config", "tiny-qwen3", "--out", dir,
		"--bits", "4", "--group-size", "64", "--seed", strconv.Itoa(seed),
		"--tokenizer", filepath.Join(testutil.Fixtures(t), "tokenizers", "qwen3"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestMakeModel checks that the folder is what mlx-lm writes for a 4-bit
// model and that LMX's own readers accept it.
func TestMakeModel(t *testing.T) {
	p := pythonOrSkip(t)
	dir := makeTiny(t, p, 0)
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	q := cfg.Quantization
	if cfg.ModelType != "qwen3" || cfg.VocabSize != 151936 || cfg.HeadDim != 32 || q == nil ||
		q.Bits != 4 || q.GroupSize != 64 || q.Mode != "affine" {
		t.Fatalf("config = %+v, quantization %+v", cfg, q)
	}
	headers, err := model.WeightHeaders(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"model.layers.1.self_attn.q_proj.weight": "U32", "model.layers.1.self_attn.q_proj.scales": "BF16",
		"model.layers.1.self_attn.q_proj.biases": "BF16", "model.embed_tokens.scales": "BF16",
		"model.layers.1.self_attn.q_norm.weight": "BF16",
	}
	for name, dtype := range want {
		if got := headers[0].Tensors[name].Dtype; got != dtype {
			t.Errorf("%s dtype %q, want %s", name, got, dtype)
		}
	}
	gen, err := model.ReadGenerationConfig(dir)
	if err != nil || !slices.Contains(gen.EOSTokenIDs, 151645) {
		t.Fatalf("generation config %+v, err %v", gen, err)
	}
	t.Run("seeded", func(t *testing.T) { checkSeeded(t, p, dir) })
}

// checkSeeded: the same seed rewrites the same weights, another seed does not.
func checkSeeded(t *testing.T, p Python, dir string) {
	weights := func(d string) []byte {
		b, err := os.ReadFile(filepath.Join(d, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := weights(dir)
	if !bytes.Equal(first, weights(makeTiny(t, p, 0))) {
		t.Error("seed 0 twice gave different weights")
	}
	if bytes.Equal(first, weights(makeTiny(t, p, 1))) {
		t.Error("seeds 0 and 1 gave the same weights")
	}
}

// TestLogitsMatchFixture checks the comparison tool itself: mlx_lm on this
// machine reproduces the transformers reference logits and greedy tokens.
func TestLogitsMatchFixture(t *testing.T) {
	p := pythonOrSkip(t)
	dir := filepath.Join(testutil.Fixtures(t), "models", "llama")
	ref, err := ReadTensors(filepath.Join(dir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var lists [][]int32
	for i := range 3 {
		ids, _, err := ref.Int32("input_ids_" + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, ids)
	}
	prompt, _, err := ref.Int32("greedy_prompt")
	if err != nil {
		t.Fatal(err)
	}
	wantGreedy, _, err := ref.Int32("greedy_tokens")
	if err != nil {
		t.Fatal(err)
	}
	out := runLogits(t, p, dir, len(wantGreedy), append(lists, prompt)...)
	for i := range lists {
		name := "logits_" + strconv.Itoa(i)
		got, _ := mustFloat32(t, out, name)
		want, _ := mustFloat32(t, ref, name)
		if rel := RelError(got, want); rel > 1e-4 {
			t.Errorf("%s: relative error %.3g > 1e-4", name, rel)
		}
	}
	if got, _, err := out.Int32("greedy_3"); err != nil || !slices.Equal(got, wantGreedy) {
		t.Errorf("greedy = %v (err %v), want %v", got, err, wantGreedy)
	}
}

// TestLogitsQuantized runs the tool on a 4-bit folder: logits are finite,
// causal (a prefix gets the same rows), and the cached greedy path starts
// with the argmax of the cacheless pass.
func TestLogitsQuantized(t *testing.T) {
	p := pythonOrSkip(t)
	dir := makeTiny(t, p, 0)
	ids, err := PromptIDs(dir, 9, 5)
	if err != nil {
		t.Fatal(err)
	}
	out := runLogits(t, p, dir, 3, ids, ids[:4])
	full, shape := mustFloat32(t, out, "logits_0")
	prefix, _ := mustFloat32(t, out, "logits_1")
	if !slices.Equal(shape, []int{9, 151936}) {
		t.Fatalf("logits shape %v, want [9 151936]", shape)
	}
	vocab := shape[1]
	for _, v := range full {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatal("non-finite logit")
		}
	}
	if rel := RelError(prefix, full[:4*vocab]); rel > 1e-4 {
		t.Errorf("prefix logits differ from the full pass: relative error %.3g", rel)
	}
	greedy, _, err := out.Int32("greedy_0")
	if err != nil || len(greedy) != 3 {
		t.Fatalf("greedy_0 = %v, err %v", greedy, err)
	}
	if want := argmax(full[8*vocab:]); greedy[0] != want {
		t.Errorf("first greedy token %d, argmax of the last logits %d", greedy[0], want)
	}
}

// TestBenchJSON runs the benchmark script on the tiny model and checks its
// report, and that Go builds the same prompt as the script.
func TestBenchJSON(t *testing.T) {
	p := pythonOrSkip(t)
	dir := makeTiny(t, p, 0)
	w := Workload{PromptTokens: 24, GenTokens: 5, Seed: 11}
	r := benchOnce(t, p, dir, w, 2)
	if r.Engine != "mlx_lm" || r.MLXVersion == "" || r.Device == "" || r.ModelType != "qwen3" ||
		r.PromptTokens != 24 || r.GenTokens != 5 || len(r.Runs) != 2 || len(r.Generated) != 5 {
		t.Fatalf("report %+v", r)
	}
	if !finitePositive(r.PrefillTPS, r.DecodeTPS, float64(r.PeakMemoryBytes)) {
		t.Fatalf("figures not finite and positive: %+v", r)
	}
	for i, run := range r.Runs {
		checkRun(t, run, w)
		if run.PeakMemoryBytes > r.PeakMemoryBytes {
			t.Errorf("run %d peak %d above the report's %d", i, run.PeakMemoryBytes, r.PeakMemoryBytes)
		}
	}
	if r.PeakMemoryBytes != max(r.Runs[0].PeakMemoryBytes, r.Runs[1].PeakMemoryBytes) {
		t.Errorf("peak %d is not the largest run's: %+v", r.PeakMemoryBytes, r.Runs)
	}
	t.Run("prompt", func(t *testing.T) { checkPrompt(t, p, dir, w) })
}

// benchOnce runs mlx_lm_bench.py --json and parses its report.
func benchOnce(t *testing.T, p Python, dir string, w Workload, runs int) Result {
	t.Helper()
	out, err := p.Run(context.Background(), BenchScript, "--model", dir, "--json",
		"--prompt-tokens", strconv.Itoa(w.PromptTokens), "--gen-tokens", strconv.Itoa(w.GenTokens),
		"--seed", strconv.FormatUint(w.Seed, 10), "--runs", strconv.Itoa(runs))
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	return r
}

// checkRun checks one run's figures against the workload: finite, positive,
// and speeds that are the token counts over the times.
func checkRun(t *testing.T, r Run, w Workload) {
	t.Helper()
	if !finitePositive(r.PrefillSeconds, r.DecodeSeconds, r.PrefillTPS, r.DecodeTPS, float64(r.PeakMemoryBytes)) {
		t.Fatalf("run figures not finite and positive: %+v", r)
	}
	if got := r.PrefillTPS * r.PrefillSeconds; math.Abs(got-float64(w.PromptTokens)) > 1e-6 {
		t.Errorf("prefill_tps x prefill_s = %v, want the %d prompt tokens", got, w.PromptTokens)
	}
	if got := r.DecodeTPS * r.DecodeSeconds; math.Abs(got-float64(w.GenTokens-1)) > 1e-6 {
		t.Errorf("decode_tps x decode_s = %v, want the %d tokens after the first", got, w.GenTokens-1)
	}
}

// finitePositive reports whether every value is a positive finite number.
func finitePositive(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return false
		}
	}
	return true
}

// TestBenchSteps drives mlx_lm_bench.py --steps: the header describes the
// model and workload, each Run is one timed run in the order asked, and
// the greedy tokens are those of the one-shot mode.
func TestBenchSteps(t *testing.T) {
	p := pythonOrSkip(t)
	dir := makeTiny(t, p, 0)
	w := Workload{PromptTokens: 24, GenTokens: 5, Seed: 11}
	ctx := context.Background()
	b, err := p.StartBench(ctx, dir, w)
	if err != nil {
		t.Fatal(err)
	}
	h := b.Header()
	if h.Engine != "mlx_lm" || h.MLXLMVersion == "" || h.ModelType != "qwen3" || h.Model != dir ||
		h.PromptTokens != 24 || h.GenTokens != 5 || h.Seed != 11 || !strings.Contains(string(h.Quantization), `"bits": 4`) {
		t.Fatalf("header %+v (quantization %s)", h, h.Quantization)
	}
	var steps []Step
	for range 3 {
		before := time.Now()
		s, err := b.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Started.Before(before) || time.Since(s.Started).Seconds() < s.PrefillSeconds+s.DecodeSeconds {
			t.Errorf("started %v is not when the run was asked for (asked at %v, lasted %v s)",
				s.Started, before, s.PrefillSeconds+s.DecodeSeconds)
		}
		checkRun(t, s.Run, w)
		steps = append(steps, s)
	}
	if err := b.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	want := benchOnce(t, p, dir, w, 1).Generated
	for i, s := range steps {
		if !slices.Equal(s.Generated, want) {
			t.Errorf("run %d generated %v, the one-shot mode %v", i, s.Generated, want)
		}
	}
}

// TestBenchStepsFailures: a folder mlx_lm cannot load fails StartBench with
// the script's own error, and a cancelled context kills the process.
func TestBenchStepsFailures(t *testing.T) {
	p := pythonOrSkip(t)
	w := Workload{PromptTokens: 8, GenTokens: 2}
	t.Run("no model", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "missing-model")
		_, err := p.StartBench(context.Background(), missing, w)
		if err == nil || !strings.Contains(err.Error(), "missing-model") || !strings.Contains(err.Error(), "exit status") {
			t.Fatalf("err = %v, want the script's error naming the folder and its exit", err)
		}
		t.Logf("%v", err)
	})
	t.Run("cancelled", func(t *testing.T) {
		stories := filepath.Join(testutil.Fixtures(t), "models", "stories260k")
		b, err := p.StartBench(context.Background(), stories, w)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := b.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("run with a cancelled context: %v, want context.Canceled", err)
		}
		if _, err := b.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("run after the kill: %v, want the process's end", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("close after the kill: %v", err)
		}
	})
}

// checkPrompt compares PromptIDs with the script's --prompt-only output.
func checkPrompt(t *testing.T, p Python, dir string, w Workload) {
	out, err := p.Run(context.Background(), BenchScript, "--model", dir, "--prompt-only",
		"--prompt-tokens", "300", "--gen-tokens", "2", "--seed", strconv.FormatUint(w.Seed, 10))
	if err != nil {
		t.Fatal(err)
	}
	var want []int32
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	got, err := PromptIDs(dir, 300, w.Seed)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Go prompt %v (err %v)\nscript prompt %v", got, err, want)
	}
}

// runLogits runs mlx_lm_logits.py and opens its output.
func runLogits(t *testing.T, p Python, dir string, greedy int, ids ...[]int32) *Tensors {
	t.Helper()
	path := filepath.Join(t.TempDir(), "logits.safetensors")
	if err := p.Logits(context.Background(), dir, path, greedy, ids...); err != nil {
		t.Fatal(err)
	}
	out, err := ReadTensors(path)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustFloat32(t *testing.T, ts *Tensors, name string) ([]float32, []int) {
	t.Helper()
	v, shape, err := ts.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	return v, shape
}

func argmax(v []float32) int32 {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return int32(best)
}

// TestMakeModelTokenizerTooLarge: a tokenizer with ids beyond the model's
// vocabulary (Gemma 3's 262k into Qwen3's 152k) is refused before anything
// is written.
func TestMakeModelTokenizerTooLarge(t *testing.T) {
	p := pythonOrSkip(t)
	dir := filepath.Join(t.TempDir(), "out")
	_, err := p.Run(context.Background(), MakeModelScript, "--config", "tiny-qwen3", "--out", dir,
		"--tokenizer", filepath.Join(testutil.Fixtures(t), "tokenizers", "gemma3"))
	if err == nil || !strings.Contains(err.Error(), "does not fit vocab_size 151936") {
		t.Fatalf("err = %v, want the vocab_size refusal", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output folder exists after the refusal: %v", err)
	}
}
