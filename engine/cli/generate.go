package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/tokenizer"
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
	fs.StringVar(&f.model, "model", "", "model folder (config.json, safetensors, tokenizer.json)")
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

// runGenerate loads the tokenizer and model and streams one generation.
func runGenerate(ctx context.Context, f genFlags, seed *uint64, stdout, stderr io.Writer) error {
	if err := loadMLX(); err != nil {
		return err
	}
	tok, err := tokenizer.Load(f.model)
	if err != nil {
		return err
	}
	prompt, err := promptIDs(tok, f.model, f.prompt, f.chat)
	if err != nil {
		return err
	}
	m, err := engine.Load(ctx, f.model, engine.Options{MaxKVSize: f.maxKVSize})
	if err != nil {
		return err
	}
	defer m.Close(context.WithoutCancel(ctx))
	req := engine.Request{Request: generate.Request{
		Prompt: prompt, MaxTokens: f.maxTokens,
		Sampling: generate.Sampling{Temperature: f.temp, TopP: f.topP, TopK: f.topK, Seed: seed},
	}}
	if eos, ok := tok.EOS(); ok {
		req.StopIDs = []int32{eos}
	}
	stream := tok.NewStreamDecoder(true)
	var clock stepClock
	clock.start()
	var werr error
	res, err := m.Generate(ctx, req, func(t generate.Token) bool {
		clock.tick()
		_, werr = io.WriteString(stdout, stream.Add(t.ID))
		return werr != nil
	})
	if err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("write output: %w", werr)
	}
	fmt.Fprintln(stdout, stream.Flush())
	return printStats(ctx, stderr, res.PromptTokens, &clock)
}

// promptIDs tokenizes the prompt as mlx_lm's generate does: special tokens
// (BOS) are added unless the text already starts with the BOS string (as a
// rendered chat template does). An empty prompt is the BOS token alone.
func promptIDs(tok *tokenizer.Tokenizer, dir, prompt string, useChat bool) ([]int32, error) {
	text := prompt
	if useChat {
		tmpl, err := chat.LoadTemplate(dir)
		if err != nil {
			return nil, err
		}
		text, err = tmpl.Render([]chat.Message{{Role: "user", Content: prompt}}, nil, true, nil)
		if err != nil {
			return nil, err
		}
	}
	bos, hasBOS := tok.BOS()
	add := !hasBOS || !strings.HasPrefix(text, tok.Token(bos))
	ids := tok.Encode(text, add)
	if len(ids) == 0 && hasBOS {
		ids = []int32{bos}
	}
	if len(ids) == 0 {
		return nil, errors.New("empty prompt and the tokenizer has no BOS token to start from")
	}
	return ids, nil
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

// printStats writes the speeds and MLX's peak memory.
func printStats(ctx context.Context, w io.Writer, promptTokens int, c *stepClock) error {
	mem, err := engine.MemoryStats(ctx)
	if err != nil {
		return err
	}
	if c.tokens > 0 {
		fmt.Fprintf(w, "prompt: %d tokens, %.1f tokens/s\n", promptTokens, float64(promptTokens)/c.prefill().Seconds())
	}
	fmt.Fprintf(w, "generation: %d tokens, %.1f tokens/s\n", c.tokens, c.decodeTPS())
	fmt.Fprintf(w, "peak memory: %s\n", mib(mem.Peak))
	return nil
}
