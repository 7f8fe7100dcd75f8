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
	r, err := p.Bench(context.Background(), dir, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != "mlx_lm" || r.MLXVersion == "" || r.Device == "" || r.ModelType != "qwen3" ||
		r.PromptTokens != 24 || r.GenTokens != 5 || len(r.Runs) != 2 || len(r.Generated) != 5 {
		t.Fatalf("report %+v", r)
	}
	if r.PrefillTPS <= 0 || r.DecodeTPS <= 0 || r.PeakMemoryBytes <= 0 {
		t.Fatalf("figures not positive: %+v", r)
	}
	if got := r.Runs[0].PrefillTPS * r.Runs[0].PrefillSeconds; math.Abs(got-24) > 1e-6 {
		t.Errorf("prefill_tps x prefill_s = %v, want the 24 prompt tokens", got)
	}
	t.Run("prompt", func(t *testing.T) { checkPrompt(t, p, dir, w) })
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
