package serve

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// point is one figure's value from one run of one engine.
type point struct {
	name, unit string
	value      float64
}

// scenario runs one workload once against one endpoint; run seeds its
// prompts so that every engine gets the same texts in the same run.
type scenario func(ctx context.Context, e *Endpoint, run uint64) ([]point, error)

// Stream ids of seeded(): each prompt of a run draws from its own stream.
const (
	singleStream  = 1
	concurStream  = 1 << 20 // + streams<<8 + index
	prefixStream  = 2 << 20 // + prompt tokens
	suffixAStream = 3 << 20
	suffixBStream = 4 << 20
)

// single is one stream of a fresh prompt: prefill tokens/s is the prompt
// tokens over the time to first token (so it includes the HTTP round trip
// and tokenizing, alike for every server), decode tokens/s the tokens after
// the first over the time after it.
func (b *bench) single(ctx context.Context, e *Endpoint, run uint64) ([]point, error) {
	text, err := b.p.Text(b.o.PromptTokens, seeded(run, singleStream))
	if err != nil {
		return nil, err
	}
	s, err := b.send(ctx, e, Request{Prompt: text, MaxTokens: b.o.GenTokens}, b.o.PromptTokens)
	if err != nil {
		return nil, err
	}
	return []point{
		{"single: prefill", "tok/s", float64(b.promptTokens(s)) / s.First.Seconds()},
		{"single: decode", "tok/s", s.DecodeTPS()},
		{"single: time to first token", "ms", ms(s.First)},
	}, nil
}

// concurrent sends n streams of fresh prompts at once: aggregate tokens/s
// is every stream's generated tokens over the time from the first send to
// the last stream's end (prefills included, as a user of the server sees).
func (b *bench) concurrent(n int) scenario {
	return func(ctx context.Context, e *Endpoint, run uint64) ([]point, error) {
		texts := make([]string, n)
		for i := range n {
			var err error
			if texts[i], err = b.p.Text(b.o.StreamPromptTokens, seeded(run, uint64(concurStream+n<<8+i))); err != nil {
				return nil, err
			}
		}
		samples := make([]Sample, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := time.Now()
		for i := range n {
			wg.Go(func() {
				samples[i], errs[i] = b.send(ctx, e, Request{Prompt: texts[i], MaxTokens: b.o.StreamGenTokens}, b.o.StreamPromptTokens)
			})
		}
		wg.Wait()
		wall := time.Since(start)
		tokens := 0
		for i, s := range samples {
			if errs[i] != nil {
				return nil, fmt.Errorf("stream %d of %d: %w", i+1, n, errs[i])
			}
			tokens += s.CompletionTokens
		}
		return []point{{fmt.Sprintf("%2d streams: aggregate", n), "tok/s", float64(tokens) / wall.Seconds()}}, nil
	}
}

// prefix times the first token of a prompt of n tokens whose prefix is new
// (cold), then of the same prefix with another short suffix (hot: a prefix
// cache serves all but the suffix). The suffix is SuffixTokens long.
func (b *bench) prefix(n int) scenario {
	return func(ctx context.Context, e *Endpoint, run uint64) ([]point, error) {
		if n <= b.p.Specials()+b.o.SuffixTokens {
			return nil, fmt.Errorf("a %d-token prompt leaves no room for a prefix before a %d-token suffix", n, b.o.SuffixTokens)
		}
		head := b.p.Words(n-b.p.Specials()-b.o.SuffixTokens, seeded(run, uint64(prefixStream+n)))
		cold := head + b.p.Words(b.o.SuffixTokens, seeded(run, uint64(suffixAStream+n)))
		hot := head + b.p.Words(b.o.SuffixTokens, seeded(run, uint64(suffixBStream+n)))
		var s [2]Sample
		for i, text := range []string{cold, hot} {
			if err := b.p.Check(text, n); err != nil {
				return nil, err
			}
			var err error
			if s[i], err = b.send(ctx, e, Request{Prompt: text, MaxTokens: 1}, n); err != nil {
				return nil, err
			}
		}
		label := fmt.Sprintf("%d-token prompt", n)
		return []point{
			{label + ": cold first token", "ms", ms(s[0].First)},
			{label + ": hot first token", "ms", ms(s[1].First)},
			{label + ": hot / cold", "%", 100 * s[1].First.Seconds() / s[0].First.Seconds()},
			{label + ": hot cached tokens", "tokens", float64(s[1].CachedTokens)},
		}, nil
	}
}

// send streams r and notes an early stop or a prompt length that differs
// from the expected one (a chat template adds tokens, so not in chat mode).
func (b *bench) send(ctx context.Context, e *Endpoint, r Request, promptTokens int) (Sample, error) {
	s, err := e.Stream(ctx, r)
	if err != nil {
		return s, err
	}
	if s.CompletionTokens < r.MaxTokens {
		b.note(fmt.Sprintf("%s stopped before max_tokens (finish_reason %q): it does not honour ignore_eos, and its figures count the tokens it sent", e.Name, s.FinishReason))
	}
	if !e.Chat && s.PromptTokens != 0 && s.PromptTokens != promptTokens {
		b.note(fmt.Sprintf("%s counted %d prompt tokens where this tokenizer counts %d", e.Name, s.PromptTokens, promptTokens))
	}
	return s, nil
}

// promptTokens is the server's prompt count, or the tokenizer's without one.
func (b *bench) promptTokens(s Sample) int {
	if s.PromptTokens > 0 {
		return s.PromptTokens
	}
	return b.o.PromptTokens
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
