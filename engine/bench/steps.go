package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// closeWait is how long Close lets the script exit on its own after its
// stdin is closed before killing it.
const closeWait = 10 * time.Second

// Step is one run of mlx_lm_bench.py --steps: its timing and the tokens it
// generated.
type Step struct {
	Run
	Generated []int32 `json:"generated"`
}

// BenchProcess is a running mlx_lm_bench.py --steps: the model and prompt
// are loaded once, and each Run is one timed run, so a driver can alternate
// mlx_lm's runs with another engine's. Not safe for concurrent use.
type BenchProcess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte // stdout's lines; closed once the process has exited
	exit   error       // the process's exit status, set before lines closes
	stderr *tail
	header Result
	killed atomic.Bool // kill was called: an exit error is ours, not the script's
}

// StartBench starts mlx_lm_bench.py --steps on the model folder for
// workload w and waits until it has loaded the model (its header line).
// Cancelling ctx kills the process; the caller must Close it.
func (p Python) StartBench(ctx context.Context, dir string, w Workload) (*BenchProcess, error) {
	cmd := exec.CommandContext(ctx, p.Interpreter, filepath.Join(p.Root, BenchScript), "--steps",
		"--model", dir,
		"--prompt-tokens", strconv.Itoa(w.PromptTokens),
		"--gen-tokens", strconv.Itoa(w.GenTokens),
		"--seed", strconv.FormatUint(w.Seed, 10))
	b := &BenchProcess{cmd: cmd, lines: make(chan []byte), stderr: &tail{}}
	cmd.Stderr = b.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if b.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(BenchScript), err)
	}
	go b.read(stdout)
	if err := b.readHeader(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// read sends stdout's lines to b.lines until EOF, then waits for the
// process (exec requires every read to finish first) and closes b.lines.
func (b *BenchProcess) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // a step line holds every generated token
	for sc.Scan() {
		b.lines <- slices.Clone(sc.Bytes())
	}
	io.Copy(io.Discard, stdout) // a line past the buffer: let the process finish
	b.exit = b.cmd.Wait()
	close(b.lines)
}

// readHeader reads and checks the first line.
func (b *BenchProcess) readHeader(ctx context.Context) error {
	line, err := b.next(ctx)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(line, &b.header); err != nil || b.header.Engine != "mlx_lm" {
		return fmt.Errorf("%s --steps: header %q is not its JSON header (err %v)", filepath.Base(BenchScript), line, err)
	}
	return nil
}

// Header is the report's fixed part: versions, device, model, workload.
func (b *BenchProcess) Header() Result { return b.header }

// Run does one timed run and returns it, Started set to when it was asked
// for. Cancelling ctx kills the process (later runs fail).
func (b *BenchProcess) Run(ctx context.Context) (Step, error) {
	if err := ctx.Err(); err != nil {
		b.kill()
		return Step{}, err
	}
	started := time.Now()
	if _, err := io.WriteString(b.stdin, "run\n"); err != nil {
		return Step{}, b.exited(ctx, fmt.Errorf("send run: %w", err))
	}
	line, err := b.next(ctx)
	if err != nil {
		return Step{}, err
	}
	var s Step
	if err := json.Unmarshal(line, &s); err != nil {
		return Step{}, fmt.Errorf("%s --steps: run line %q: %w", filepath.Base(BenchScript), line, err)
	}
	if len(s.Generated) != b.header.GenTokens {
		return Step{}, fmt.Errorf("%s --steps: generated %d tokens, want %d", filepath.Base(BenchScript),
			len(s.Generated), b.header.GenTokens)
	}
	s.Started = started
	return s, nil
}

// next returns the next stdout line, or why there is none: ctx's error
// (the process killed) or the process's exit with its stderr's tail.
func (b *BenchProcess) next(ctx context.Context) ([]byte, error) {
	select {
	case <-ctx.Done():
		b.kill()
		return nil, ctx.Err()
	case line, ok := <-b.lines:
		if !ok {
			return nil, b.exited(ctx, errors.New("exited without answering"))
		}
		return line, nil
	}
}

// exited waits for the process to end (killing it if ctx ends first) and
// describes its failure.
func (b *BenchProcess) exited(ctx context.Context, cause error) error {
	for open := true; open; {
		select {
		case _, open = <-b.lines:
		case <-ctx.Done():
			b.kill()
			ctx = context.Background()
		}
	}
	return fmt.Errorf("%s --steps: %w (%v): %s", filepath.Base(BenchScript), cause, b.exit,
		lastLines(b.stderr.String(), 20))
}

// kill ends the process at once.
func (b *BenchProcess) kill() {
	b.killed.Store(true)
	b.cmd.Process.Kill()
}

// Close ends the process: EOF on its stdin, then a kill if it has not
// exited within closeWait. It returns the exit error of a process that
// failed on its own.
func (b *BenchProcess) Close() error {
	b.stdin.Close()
	timer := time.AfterFunc(closeWait, b.kill)
	defer timer.Stop()
	for range b.lines {
	}
	if b.exit != nil && !b.killed.Load() && b.cmd.ProcessState.Exited() {
		return fmt.Errorf("%s --steps: %w: %s", filepath.Base(BenchScript), b.exit, lastLines(b.stderr.String(), 20))
	}
	return nil
}

// tail keeps the last tailBytes written to it (a script's stderr: a
// traceback ends with the error).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 64 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = slices.Clone(t.buf[len(t.buf)-tailBytes:])
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
