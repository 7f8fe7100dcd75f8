package soak

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Options configure a soak.
type Options struct {
	URL       string        // the server
	ChatModel string        // the model chat, completions, Anthropic and Responses traffic names
	ToolModel string        // the model with a tool-calling template for forced tool calls and schemas ("" skips them)
	Duration  time.Duration // how long traffic runs
	Interval  time.Duration // between samples; 0: Duration/40, within 2 s..60 s
	Workers   int           // concurrent clients; 0: 4 (the burst kind adds 3 more)
	Out       io.Writer     // progress lines; nil: none
}

// Report is what a soak saw.
type Report struct {
	PID      int
	Samples  []Sample
	Figures  []Figure
	Verdict  error // nil: flat
	ByKind   map[string][2]int64
	Errors   []string // the first few failed requests
	Duration time.Duration
}

// Failed is the number of requests that failed.
func (r *Report) Failed() int64 {
	var n int64
	for _, c := range r.ByKind {
		n += c[1]
	}
	return n
}

// Run sends mixed traffic to the server at o.URL for o.Duration, sampling
// the server process (found through GET /api/stats; it must run on this
// machine) every o.Interval.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Interval <= 0 {
		o.Interval = min(max(o.Duration/40, 2*time.Second), time.Minute)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	st, err := readStats(ctx, client, o.URL)
	if err != nil {
		return nil, err
	}
	rep := &Report{PID: st.Process.PID, Duration: o.Duration, ByKind: map[string][2]int64{}}
	tr := newTraffic(o.URL, o.ChatModel, o.ToolModel, o.Workers)
	tctx, stop := context.WithTimeout(ctx, o.Duration)
	defer stop()
	var wg sync.WaitGroup
	for w := range o.Workers {
		wg.Add(1)
		go func() { defer wg.Done(); tr.run(tctx, w) }()
	}
	start := time.Now()
	err = sampleUntil(tctx, client, o, rep, tr, start)
	stop()
	wg.Wait()
	if err == nil && ctx.Err() == nil {
		err = drained(ctx, client, o.URL)
	}
	if err == nil && ctx.Err() == nil {
		// A last sample once the traffic has stopped.
		err = addSample(ctx, client, o, rep, tr, start)
	}
	for k, c := range tr.byKind {
		rep.ByKind[k] = [2]int64{c.ok.Load(), c.failed.Load()}
	}
	rep.Errors = tr.firstErrors
	if err != nil {
		return rep, err
	}
	rep.Figures, rep.Verdict = Verdict(rep.Samples, o.Duration)
	return rep, nil
}

// sampleUntil samples every o.Interval until ctx ends.
func sampleUntil(ctx context.Context, client *http.Client, o Options, rep *Report, tr *traffic, start time.Time) error {
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		if err := addSample(ctx, client, o, rep, tr, start); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func addSample(ctx context.Context, client *http.Client, o Options, rep *Report, tr *traffic, start time.Time) error {
	s, err := take(ctx, client, o.URL, rep.PID)
	if err != nil {
		return err
	}
	s.At = time.Since(start)
	s.OK, s.Failed = tr.totals()
	rep.Samples = append(rep.Samples, s)
	if o.Out != nil {
		fmt.Fprintf(o.Out, "soak %s: %d ok, %d failed, rss %.1f MiB, %d goroutines, %d fds, mlx active %.1f MiB\n",
			s.At.Round(time.Second), s.OK, s.Failed, float64(s.RSS)/(1<<20), s.Goroutines, s.FDs, float64(s.MLXActive)/(1<<20))
	}
	return nil
}

// Print writes the report: requests by kind, the samples' table and the
// verdict.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "soak of pid %d for %v\n", r.PID, r.Duration)
	names := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %-17s %6d ok %4d failed\n", k, r.ByKind[k][0], r.ByKind[k][1])
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	PrintTable(w, r.Samples)
	PrintVerdict(w, r.Figures, r.Verdict)
}

// drained waits up to 30 s for every model to have no active or queued
// sequence once the clients are gone: a cancelled or finished request that
// kept decoding would stay.
func drained(ctx context.Context, client *http.Client, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := readStats(ctx, client, url)
		if err != nil {
			return err
		}
		busy := 0
		for _, m := range st.Models {
			busy += m.Active + m.Queued
		}
		if busy == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sequences still active or queued 30 s after the last client left", busy)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
