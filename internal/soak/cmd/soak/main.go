// Command soak runs the soak against an LMX server that is already running
// on this machine (it reads the process through /proc):
//
//	go run ./internal/soak/cmd/soak -url http://127.0.0.1:1235 -model NAME [-tool-model NAME] -minutes 30
//
// `make soak MINUTES=N` starts its own server with the test models instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/lmx-app/lmx/internal/soak"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:1235", "the running server")
	chatModel := flag.String("model", "", "model for chat, completions, Anthropic and Responses traffic (required)")
	toolModel := flag.String("tool-model", "", "model with a tool-calling template for forced tool calls and json_schema (optional)")
	minutes := flag.Float64("minutes", 2, "how long to run")
	workers := flag.Int("workers", 4, "concurrent clients")
	flag.Parse()
	if *chatModel == "" || !(*minutes > 0) {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := soak.Run(ctx, soak.Options{URL: *url, ChatModel: *chatModel, ToolModel: *toolModel,
		Duration: time.Duration(*minutes * float64(time.Minute)), Workers: *workers, Out: os.Stderr})
	if rep != nil {
		rep.Print(os.Stdout)
	}
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	case rep.Verdict != nil || rep.Failed() > 0:
		os.Exit(1)
	}
}
