// Package llamacpp runs llama.cpp as a reference for LMX's tests and
// benchmarks: node-llama-cpp's prebuilt CPU build (npm, pinned in
// package.json, installed by build/setup.sh llamacpp) driven by reference.mjs
// in a child node process, one JSON line per request.
package llamacpp

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// ErrNotInstalled means node or the npm packages are missing; the error text
// says how to install them.
var ErrNotInstalled = errors.New("llama.cpp reference not installed")

// Options configures a reference process.
type Options struct {
	// Model is the GGUF file to load.
	Model string
	// VocabOnly loads only the tokenizer (tokenize and detokenize work,
	// generate and bench do not): fast for large files.
	VocabOnly bool
	// Threads is the number of CPU threads llama.cpp evaluates with (1 when
	// zero). Keep it small on a shared machine: llama.cpp's worker threads
	// spin, and with another process holding the CPU they slow to about a
	// token a second.
	Threads int
	// ContextSize is the context length in tokens (2048 when zero); a
	// generate or bench request must fit in it.
	ContextSize int
	// BatchSize is the number of tokens evaluated per batch (512 when zero).
	BatchSize int
}

// Runner is a running reference process. Its methods are safe for
// concurrent use; requests are answered one at a time.
type Runner struct {
	// Info is what the process reported once the model was loaded.
	Info Info

	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stderr *tailBuffer
}

// Info describes the loaded vocabulary as llama.cpp sees it, and the
// versions running.
type Info struct {
	BOS    int32 `json:"bos"` // -1 when none
	EOS    int32 `json:"eos"`
	AddBOS bool  `json:"addBos"`
	AddEOS bool  `json:"addEos"`
	// Version is node-llama-cpp's; LlamaCpp the llama.cpp release its
	// binaries were built from, as its build metadata names it.
	Version  string `json:"version"`
	LlamaCpp string `json:"llamaCpp"`
}

// Dir returns the folder holding package.json, reference.mjs and
// node_modules: $LMX_LLAMACPP_DIR, else this source file's folder.
func Dir() string {
	if d := os.Getenv("LMX_LLAMACPP_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Available reports whether node and the installed packages are present; the
// error wraps ErrNotInstalled and names what is missing.
func Available() error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("%w: node is not on PATH (install Node.js 20 or later)", ErrNotInstalled)
	}
	pkg := filepath.Join(Dir(), "node_modules", "node-llama-cpp", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		return fmt.Errorf("%w: no %s (run build/setup.sh llamacpp)", ErrNotInstalled, pkg)
	}
	return nil
}

// Start launches node with reference.mjs and waits until the model is
// loaded. The caller must Close the Runner.
func Start(opts Options) (*Runner, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	args := []string{filepath.Join(Dir(), "reference.mjs"), "--model", opts.Model,
		"--threads", strconv.Itoa(max(opts.Threads, 1)),
		"--context", strconv.Itoa(cmp.Or(opts.ContextSize, 2048)),
		"--batch", strconv.Itoa(cmp.Or(opts.BatchSize, 512))}
	if opts.VocabOnly {
		args = append(args, "--vocab-only")
	}
	r := &Runner{cmd: exec.Command("node", args...), stderr: &tailBuffer{max: 8 << 10}}
	r.cmd.Dir = Dir()
	// Never download or compile llama.cpp: the prebuilt binary or an error.
	r.cmd.Env = append(os.Environ(), "NODE_LLAMA_CPP_SKIP_DOWNLOAD=true")
	r.cmd.Stderr = r.stderr
	var err error
	if r.stdin, err = r.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("start llama.cpp reference: %w", err)
	}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start llama.cpp reference: %w", err)
	}
	r.out = bufio.NewScanner(stdout)
	r.out.Buffer(nil, 256<<20)
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start llama.cpp reference: %w", err)
	}
	if err := r.read(&r.Info); err != nil {
		r.Close()
		return nil, fmt.Errorf("start llama.cpp reference for %s: %w", opts.Model, err)
	}
	return r, nil
}

// Close ends the process: closing its input lets it exit by itself, and it
// is killed if it has not within closeTimeout.
func (r *Runner) Close() error {
	r.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(closeTimeout):
		r.cmd.Process.Kill()
		return fmt.Errorf("llama.cpp reference did not exit within %v: killed (stderr: %s)", closeTimeout, r.stderr)
	}
}

const closeTimeout = 10 * time.Second

// Tokenize returns llama.cpp's tokens for text. addSpecial adds BOS and EOS
// as the model asks (llama_tokenize's add_special); parseSpecial matches the
// text of special tokens, as for a rendered chat prompt.
func (r *Runner) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	var res struct {
		IDs []int32 `json:"ids"`
	}
	err := r.call(map[string]any{"cmd": "tokenize", "text": text, "addSpecial": addSpecial, "parseSpecial": parseSpecial}, &res)
	return res.IDs, err
}

// Detokenize returns the text of ids (llama_detokenize without removing
// special tokens); special renders the text of special tokens.
func (r *Runner) Detokenize(ids []int32, special bool) (string, error) {
	var res struct {
		Text string `json:"text"`
	}
	err := r.call(map[string]any{"cmd": "detokenize", "ids": ids, "special": special}, &res)
	return res.Text, err
}

// Step is one greedy decoding step: the token chosen and the two most
// likely candidates.
type Step struct {
	Token int32       `json:"token"`
	Top   []Candidate `json:"top"`
	// LogitGap is the difference of the two largest logits, ln(p1/p2): a
	// gap under about 1e-3 is a near-tie that float rounding may flip.
	LogitGap float64 `json:"logitGap"`
}

// Generate decodes greedily from prompt (token ids, BOS included if wanted)
// for n steps or until an end-of-generation token, which is included.
func (r *Runner) Generate(prompt []int32, n int) ([]Step, error) {
	return r.generate(prompt, n, false)
}

// GenerateIgnoringEOG decodes greedily from prompt for exactly n steps,
// past end-of-generation tokens, as LMX does with IgnoreEOS: a comparison
// of the two then covers every step.
func (r *Runner) GenerateIgnoringEOG(prompt []int32, n int) ([]Step, error) {
	return r.generate(prompt, n, true)
}

// generate sends one generate request.
func (r *Runner) generate(prompt []int32, n int, ignoreEOG bool) ([]Step, error) {
	var res struct {
		Steps []Step `json:"steps"`
	}
	err := r.call(map[string]any{"cmd": "generate", "ids": prompt, "n": n, "ignoreEog": ignoreEOG}, &res)
	return res.Steps, err
}

// Candidate is a token and its probability (softmax of the raw logits).
type Candidate struct {
	ID int32   `json:"id"`
	P  float64 `json:"p"`
}

// Bench is the timing of one prefill and decode run.
type Bench struct {
	PrefillTokens int     `json:"prefillTokens"`
	PrefillMs     float64 `json:"prefillMs"` // evaluating the prompt and sampling the first token
	DecodeTokens  int     `json:"decodeTokens"`
	DecodeMs      float64 `json:"decodeMs"` // the tokens after the first
}

// Bench evaluates prompt and then decodes n more tokens greedily, timing
// both phases (fewer tokens if the model ends generation early).
func (r *Runner) Bench(prompt []int32, n int) (Bench, error) {
	var res Bench
	err := r.call(map[string]any{"cmd": "bench", "ids": prompt, "n": n}, &res)
	return res, err
}

// Memory is the reference process's resident set in bytes.
type Memory struct {
	// StartRSS is the resident set before llama.cpp and the model were
	// loaded (Node.js alone).
	StartRSS int64 `json:"startRss"`
	RSS      int64 `json:"rss"`
	// PeakRSS is the largest resident set since the last ResetPeak when
	// PeakSinceReset (Linux), else the lifetime peak, loading included.
	PeakRSS        int64 `json:"peakRss"`
	PeakSinceReset bool  `json:"peakSinceReset"`
}

// Memory reports the process's memory use.
func (r *Runner) Memory() (Memory, error) {
	var res Memory
	err := r.call(map[string]any{"cmd": "memory"}, &res)
	return res, err
}

// ResetPeak restarts Memory's PeakRSS from the current resident set where
// the system allows it (Linux); elsewhere it does nothing.
func (r *Runner) ResetPeak() error {
	return r.call(map[string]any{"cmd": "resetPeak"}, &struct{}{})
}

// call sends one request and decodes its answer into res.
func (r *Runner) call(req map[string]any, res any) error {
	line, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("llama.cpp %s: %w", req["cmd"], err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := r.stdin.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("llama.cpp %s: %w (stderr: %s)", req["cmd"], err, r.stderr)
	}
	if err := r.read(res); err != nil {
		return fmt.Errorf("llama.cpp %s: %w", req["cmd"], err)
	}
	return nil
}

// read decodes the next answer line; an {"error"} answer is an error.
func (r *Runner) read(res any) error {
	if !r.out.Scan() {
		err := r.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("no answer: %w (stderr: %s)", err, r.stderr)
	}
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(r.out.Bytes(), &e); err != nil {
		return fmt.Errorf("bad answer %q: %w", r.out.Bytes(), err)
	}
	if e.Error != nil {
		return fmt.Errorf("reference error: %s", *e.Error)
	}
	return json.Unmarshal(r.out.Bytes(), res)
}

// tailBuffer keeps the last max bytes written to it (the process's stderr,
// quoted in errors).
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.TrimSpace(b.buf.Bytes()))
}
