package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/internal/cmdflag"
)

const generateUsage = `generate --model DIR --prompt TEXT [--max-tokens N] [--temp T] [--top-p P] [--top-k K]
       [--seed S] [--chat] [--max-kv-size N]`

// genFlags are the options of lmx generate.
type genFlags struct {
	model, prompt string
	maxTokens     int
	temp, topP    float64
	topK          int
	seed          uint64
	chat          bool
	maxKVSize     int
}

// RunGenerate is "lmx generate": it tokenizes the prompt (rendered with the
// model's chat template under --chat), streams the generated text to stdout
// as tokens arrive, stops at the model's EOS, and prints prompt and
// generation speed and MLX's peak memory to stderr.
func RunGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := cmdflag.New("generate", generateUsage, stderr)
	var f genFlags
	fs.StringVar(&f.model, "model", "", "model folder (config.json, safetensors, tokenizer.json) or a .gguf file")
	fs.StringVar(&f.prompt, "prompt", "", "prompt text (empty: start from the BOS token)")
	fs.IntVar(&f.maxTokens, "max-tokens", 256, "most tokens to generate")
	fs.Float64Var(&f.temp, "temp", 0, "sampling temperature (0: greedy)")
	fs.Float64Var(&f.topP, "top-p", 0, "nucleus sampling mass in (0, 1) (0: off)")
	fs.IntVar(&f.topK, "top-k", 0, "sample from the K most likely tokens (0: off)")
	fs.Uint64Var(&f.seed, "seed", 0, "random seed (default: a random one)")
	fs.BoolVar(&f.chat, "chat", false, "render the prompt as a user message with the model's chat template")
	fs.IntVar(&f.maxKVSize, "max-kv-size", 0, "bound the KV cache to N positions (0: unbounded)")
	rest, err := cmdflag.Parse(fs, args)
	if err != nil {
		return usageError(err)
	}
	if f.model == "" || len(rest) > 0 {
		fs.Usage()
		return 2
	}
	var seed *uint64
	if isSet(fs, "seed") {
		seed = &f.seed
	}
	if err := runGenerate(ctx, f, seed, stdout, stderr); err != nil {
		return fail(stderr, "generate", err)
	}
	return 0
}

// runGenerate loads the model and streams one generation through the same
// text path as the API (engine.Model.Chat / Complete).
func runGenerate(ctx context.Context, f genFlags, seed *uint64, stdout, stderr io.Writer) error {
	if err := loadMLX(); err != nil {
		return err
	}
	dir, err := modelDir(ctx, f.model)
	if err != nil {
		return err
	}
	m, err := engine.Load(ctx, dir, engine.Options{MaxKVSize: f.maxKVSize})
	if err != nil {
		return err
	}
	defer m.Close(context.WithoutCancel(ctx))
	params := engine.Params{MaxTokens: f.maxTokens,
		Sampling: generate.Sampling{Temperature: f.temp, TopP: f.topP, TopK: f.topK, Seed: seed}}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var s *engine.Stream
	if f.chat {
		s, err = m.Chat(ctx, engine.ChatRequest{Messages: []chat.Message{{Role: "user", Content: f.prompt}}, Params: params})
	} else {
		s, err = m.Complete(ctx, engine.CompletionRequest{Text: f.prompt, AddSpecial: true, Params: params})
	}
	if err != nil {
		return err
	}
	done, err := printStream(s, stdout, cancel)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	return printGenStats(ctx, stderr, done)
}

// printStream writes the stream's text (reasoning too, as the model wrote
// it) as it arrives and returns the final event. A write error cancels the
// generation.
func printStream(s *engine.Stream, w io.Writer, cancel context.CancelFunc) (engine.Event, error) {
	var werr error
	var done engine.Event
	for e := range s.Events() {
		switch e.Kind {
		case engine.EventText, engine.EventReasoning:
			if werr == nil {
				_, werr = io.WriteString(w, e.Text)
			}
		case engine.EventToolCall:
			if werr == nil {
				_, werr = fmt.Fprintf(w, "[tool call %s %s]", e.ToolCall.Function.Name, e.ToolCall.Function.Arguments)
			}
		case engine.EventDone:
			done = e
		}
		if werr != nil {
			cancel()
		}
	}
	if werr != nil {
		return done, fmt.Errorf("write output: %w", werr)
	}
	return done, done.Err
}

// stepClock times a generation the way mlx_lm_bench.py does: prefill until
// the first token arrives, decode from then to the last.
type stepClock struct {
	t0, first, last time.Time
	tokens          int
}

func (c *stepClock) start() { *c = stepClock{t0: time.Now()} }

// tick records the arrival of one token.
func (c *stepClock) tick() {
	c.last = time.Now()
	if c.tokens == 0 {
		c.first = c.last
	}
	c.tokens++
}

// prefill is the time to the first token.
func (c *stepClock) prefill() time.Duration { return c.first.Sub(c.t0) }

// decode is the time from the first token to the last.
func (c *stepClock) decode() time.Duration { return c.last.Sub(c.first) }

// decodeTPS is tokens after the first per second of decode time.
func (c *stepClock) decodeTPS() float64 {
	if c.tokens < 2 {
		return 0
	}
	return float64(c.tokens-1) / c.decode().Seconds()
}

// printGenStats writes the request's speeds and MLX's peak memory.
func printGenStats(ctx context.Context, w io.Writer, done engine.Event) error {
	mem, err := engine.MemoryStats(ctx)
	if err != nil {
		return err
	}
	u := done.Usage
	if p := done.Timing.Prefill.Seconds(); u.CompletionTokens > 0 && p > 0 {
		fmt.Fprintf(w, "prompt: %d tokens, %.1f tokens/s\n", u.PromptTokens, float64(u.PromptTokens)/p)
	}
	fmt.Fprintf(w, "generation: %d tokens, %.1f tokens/s\n", u.CompletionTokens, done.DecodeTPS())
	fmt.Fprintf(w, "peak memory: %s\n", mib(mem.Peak))
	return nil
}
