package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Script names of this folder, relative to the repository root.
const (
	MakeModelScript = "engine/bench/make_model.py"
	BenchScript     = "engine/bench/mlx_lm_bench.py"
	LogitsScript    = "engine/bench/mlx_lm_logits.py"
)

// Run is the timing of one mlx_lm_bench.py run.
type Run struct {
	PrefillSeconds float64 `json:"prefill_s"`
	DecodeSeconds  float64 `json:"decode_s"`
	PrefillTPS     float64 `json:"prefill_tps"`
	DecodeTPS      float64 `json:"decode_tps"`
	// PeakMemoryBytes is MLX's peak allocation during the run (weights
	// included: the counter is reset just before it).
	PeakMemoryBytes int64 `json:"peak_memory_bytes"`
	// Started is when the Go driver asked for the run (lmx bench sets it for
	// both engines, so the order of their runs can be read back); absent in
	// the script's own output.
	Started time.Time `json:"started,omitzero"`
}

// Result is the JSON object mlx_lm_bench.py --json prints (its docstring
// defines each field); the top-level timings are medians over Runs and
// PeakMemoryBytes is the largest run's.
type Result struct {
	Engine          string          `json:"engine"`
	MLXVersion      string          `json:"mlx_version"`
	MLXLMVersion    string          `json:"mlx_lm_version"`
	Device          string          `json:"device"`
	DeviceName      string          `json:"device_name"`
	Model           string          `json:"model"`
	ModelType       string          `json:"model_type"`
	Quantization    json.RawMessage `json:"quantization"`
	PromptTokens    int             `json:"prompt_tokens"`
	GenTokens       int             `json:"gen_tokens"`
	Seed            uint64          `json:"seed"`
	PrefillTPS      float64         `json:"prefill_tps"`
	DecodeTPS       float64         `json:"decode_tps"`
	PrefillSeconds  float64         `json:"prefill_s"`
	DecodeSeconds   float64         `json:"decode_s"`
	PeakMemoryBytes int64           `json:"peak_memory_bytes"`
	Runs            []Run           `json:"runs"`
	Generated       []int32         `json:"generated"`
}

// Python runs this folder's scripts with one interpreter from one
// repository checkout.
type Python struct {
	// Interpreter is the python executable (the project's .venv/bin/python).
	Interpreter string
	// Root is the repository root the script paths are relative to.
	Root string
}

// Run executes script (one of the *Script constants) with args and returns
// its standard output; a failure carries the script's standard error.
func (p Python) Run(ctx context.Context, script string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, p.Interpreter, append([]string{filepath.Join(p.Root, script)}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("run %s: %w: %s", filepath.Base(script), err, lastLines(stderr.String(), 20))
	}
	return stdout.Bytes(), nil
}

// Logits writes mlx_lm's logits for each id list (and greedy continuations
// of greedy tokens when greedy > 0) of the model folder to the safetensors
// file out, through mlx_lm_logits.py.
func (p Python) Logits(ctx context.Context, dir, out string, greedy int, ids ...[]int32) error {
	args := []string{"--model", dir, "--out", out, "--greedy", strconv.Itoa(greedy)}
	for _, list := range ids {
		args = append(args, "--ids", joinIDs(list))
	}
	_, err := p.Run(ctx, LogitsScript, args...)
	return err
}

// joinIDs formats ids as the comma-separated list the scripts take.
func joinIDs(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ",")
}

// lastLines keeps the end of a long stderr (a Python traceback ends with
// the error).
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
