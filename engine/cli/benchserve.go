package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lmx-app/lmx/engine/bench/serve"
	"github.com/lmx-app/lmx/internal/cmdflag"
)

const benchServeUsage = `bench serve --model DIR --a URL [--b URL] [--a-name lmx] [--b-name mlx_lm.server]
       [--a-model NAME] [--b-model NAME] [--api-key KEY] [--chat] [--runs 10] [--warmup 1]
       [--prompt-tokens 512] [--gen-tokens 128] [--streams 1,4,8,16] [--stream-prompt-tokens 128]
       [--stream-gen-tokens 64] [--prefix-tokens 1024,4096] [--suffix-tokens 16] [--timeout 1h] [--json] [--json-out FILE]`

// benchServeFlags are the options of lmx bench serve.
type benchServeFlags struct {
	model    string
	a, b     serve.Endpoint
	apiKey   string
	chat     bool
	o        serve.Options
	streams  string
	prefixes string
	timeout  time.Duration
	json     bool
	jsonOut  string
}

// runBenchServe is "lmx bench serve": the load generator of engine/bench/serve
// against one OpenAI-compatible server, or two alternating run by run.
func runBenchServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, code := parseBenchServe(args, stderr)
	if code >= 0 {
		return code
	}
	p, err := serve.NewPrompter(f.model)
	if err != nil {
		return fail(stderr, "bench serve", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	endpoints := f.endpoints()
	for _, e := range endpoints {
		e.ResolveModel(ctx)
	}
	f.o.Progress = stderr
	rep, err := serve.Run(ctx, p, f.o, endpoints...)
	if err != nil {
		return fail(stderr, "bench serve", err)
	}
	data, err := json.Marshal(rep)
	if err != nil {
		return fail(stderr, "bench serve", err)
	}
	if f.jsonOut != "" {
		if err := os.WriteFile(f.jsonOut, append(data, '\n'), 0o644); err != nil {
			return fail(stderr, "bench serve", err)
		}
	}
	if f.json {
		fmt.Fprintf(stdout, "%s\n", data)
		return 0
	}
	rep.Print(stdout)
	return 0
}

// parseBenchServe parses the flags; code is -1 to go on, else the exit code.
func parseBenchServe(args []string, stderr io.Writer) (benchServeFlags, int) {
	fs := cmdflag.New("bench serve", benchServeUsage, stderr)
	var f benchServeFlags
	fs.StringVar(&f.model, "model", "", "the model folder the servers load (its tokenizer writes prompts of exact lengths)")
	fs.StringVar(&f.a.URL, "a", "", "base URL of the first server (http://127.0.0.1:1235)")
	fs.StringVar(&f.b.URL, "b", "", "base URL of a second server to alternate with")
	fs.StringVar(&f.a.Name, "a-name", "lmx", "the first server's name in the report")
	fs.StringVar(&f.b.Name, "b-name", "mlx_lm.server", "the second server's name in the report")
	fs.StringVar(&f.a.Model, "a-model", "", "model field for the first server (default: its one loaded model in /v1/models, else left out)")
	fs.StringVar(&f.b.Model, "b-model", "", "model field for the second server (default as --a-model)")
	fs.StringVar(&f.apiKey, "api-key", "", "bearer token for both servers")
	fs.BoolVar(&f.chat, "chat", false, "send /v1/chat/completions (the template adds tokens) instead of /v1/completions")
	fs.IntVar(&f.o.Runs, "runs", 10, "timed runs of each server")
	fs.IntVar(&f.o.Warmup, "warmup", 1, "untimed rounds first")
	fs.IntVar(&f.o.PromptTokens, "prompt-tokens", 512, "single-stream prompt tokens (0: skip the single-stream test)")
	fs.IntVar(&f.o.GenTokens, "gen-tokens", 128, "single-stream generated tokens")
	fs.StringVar(&f.streams, "streams", "1,4,8,16", "concurrency levels, comma-separated (empty: none)")
	fs.IntVar(&f.o.StreamPromptTokens, "stream-prompt-tokens", 128, "prompt tokens of each concurrent stream")
	fs.IntVar(&f.o.StreamGenTokens, "stream-gen-tokens", 64, "generated tokens of each concurrent stream")
	fs.StringVar(&f.prefixes, "prefix-tokens", "1024,4096", "prompt lengths of the prefix-cache test, comma-separated (empty: none)")
	fs.IntVar(&f.o.SuffixTokens, "suffix-tokens", 16, "tokens by which the hot prompt differs from the cold one")
	fs.DurationVar(&f.timeout, "timeout", time.Hour, "give up after this long")
	fs.BoolVar(&f.json, "json", false, "print one JSON object")
	fs.StringVar(&f.jsonOut, "json-out", "", "also write the JSON object to FILE")
	rest, err := cmdflag.Parse(fs, args)
	if err != nil {
		return f, usageError(err)
	}
	var errS, errP error
	f.o.Streams, errS = intList(f.streams)
	f.o.PrefixTokens, errP = intList(f.prefixes)
	if f.model == "" || f.a.URL == "" || len(rest) > 0 || errS != nil || errP != nil || f.o.Runs < 1 || f.o.Warmup < 0 ||
		f.o.GenTokens < 2 && f.o.PromptTokens > 0 || f.o.StreamPromptTokens < 2 || f.o.StreamGenTokens < 1 || f.o.SuffixTokens < 1 {
		fs.Usage()
		return f, 2
	}
	return f, -1
}

// endpoints are the servers the flags name, sharing one HTTP client whose
// pool keeps a connection per concurrent stream.
func (f *benchServeFlags) endpoints() []*serve.Endpoint {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	list := []*serve.Endpoint{&f.a}
	if f.b.URL != "" {
		list = append(list, &f.b)
	}
	for _, e := range list {
		e.APIKey, e.Chat, e.Client = f.apiKey, f.chat, client
	}
	return list
}

// intList parses "1,4,8" into positive integers; "" is an empty list.
func intList(s string) ([]int, error) {
	var out []int
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		n, err := strconv.Atoi(part)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", part)
		}
		out = append(out, n)
	}
	return out, nil
}
