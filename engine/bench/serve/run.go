// Package serve is the load generator of "lmx bench serve": it measures
// OpenAI-compatible servers (LMX, mlx_lm.server, any other) over HTTP with
// streamed, greedy requests of exact token counts, alternating two servers
// run by run, and reports each figure's median and range and, for two
// servers, their ratio, marked level when the ranges overlap.
package serve

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Options are one benchmark session's workloads; zero lists skip a part.
type Options struct {
	// Runs timed runs of each engine follow Warmup untimed ones.
	Runs, Warmup int
	// PromptTokens and GenTokens are the single-stream request.
	PromptTokens, GenTokens int
	// Streams lists the concurrency levels; each stream sends a fresh prompt
	// of StreamPromptTokens and asks for StreamGenTokens.
	Streams                             []int
	StreamPromptTokens, StreamGenTokens int
	// PrefixTokens lists the prompt lengths of the prefix-cache test; the
	// hot prompt differs from the cold one in its last SuffixTokens tokens.
	PrefixTokens []int
	SuffixTokens int
	// Progress, when set, gets a line per engine and run.
	Progress io.Writer `json:"-"`
}

// bench is one session: the options, the prompt writer and the notes
// gathered on the way (safe for concurrent streams).
type bench struct {
	o     Options
	p     *Prompter
	mu    sync.Mutex
	notes []string
}

// note records a remark once.
func (b *bench) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Contains(b.notes, s) {
		b.notes = append(b.notes, s)
	}
}

// Run measures the endpoints (one, or two to compare): every scenario is
// run Warmup times untimed, then Runs times, engines in turn within each
// scenario of each run (ABAB…), so a change in the machine's load falls on
// both alike.
func Run(ctx context.Context, p *Prompter, o Options, endpoints ...*Endpoint) (*Report, error) {
	if len(endpoints) < 1 || len(endpoints) > 2 {
		return nil, fmt.Errorf("bench serve: %d endpoints; give one or two", len(endpoints))
	}
	b := &bench{o: o, p: p}
	scenarios := b.scenarios()
	for w := range o.Warmup {
		if _, err := b.round(ctx, scenarios, endpoints, 1<<32+uint64(w)); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		b.progress("warm-up %d done", w+1)
	}
	rep := &Report{Options: o, Endpoints: endpoints}
	for r := range o.Runs {
		points, err := b.round(ctx, scenarios, endpoints, uint64(r))
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", r+1, err)
		}
		rep.add(points)
		b.progress("run %d of %d done", r+1, o.Runs)
	}
	rep.Notes = b.notes
	return rep, rep.summarize()
}

// scenarios lists the workloads the options ask for.
func (b *bench) scenarios() []scenario {
	var s []scenario
	if b.o.PromptTokens > 0 && b.o.GenTokens > 1 {
		s = append(s, b.single)
	}
	for _, n := range b.o.Streams {
		s = append(s, b.concurrent(n))
	}
	for _, n := range b.o.PrefixTokens {
		s = append(s, b.prefix(n))
	}
	return s
}

// round runs every scenario once on each endpoint in turn; points[i] are
// endpoint i's figures.
func (b *bench) round(ctx context.Context, scenarios []scenario, endpoints []*Endpoint, run uint64) ([][]point, error) {
	points := make([][]point, len(endpoints))
	for _, sc := range scenarios {
		for i, e := range endpoints {
			ps, err := sc(ctx, e, run)
			if err != nil {
				return nil, err
			}
			points[i] = append(points[i], ps...)
		}
	}
	return points, nil
}

// progress writes a line to Options.Progress.
func (b *bench) progress(format string, args ...any) {
	if b.o.Progress != nil {
		fmt.Fprintf(b.o.Progress, "bench serve: "+format+"\n", args...)
	}
}
