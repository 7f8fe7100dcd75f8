// Command lmx is LMX: a menu-bar app that runs language models on Apple's MLX
// and serves them on an OpenAI-compatible endpoint on localhost. This file
// only wires flags and subcommands to the app package.
package main

import (
	"context"
	"embed"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/lmx-app/lmx/app"
	"github.com/lmx-app/lmx/app/tray"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/cli"
)

// dist is the built UI (npm run build in frontend/); a fresh clone holds only
// dist/.gitkeep and serves a page saying how to build it.
//
//go:embed all:frontend/dist
var dist embed.FS

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// statusInterval is how often live figures (memory) are pushed to the UI.
const statusInterval = 2 * time.Second

// command is a subcommand's entry point; it returns the exit code.
type command func(ctx context.Context, args []string, stdout, stderr io.Writer) int

// commands maps subcommand names to entry points: wiring one is one line.
var commands = map[string]command{
	"serve":   runServe,
	"tray":    runTray,
	"version": runVersion,
	"pull":    cli.RunPull,
	"ls":      cli.RunLs,
	"rm":      cli.RunRm,
	// Engine (engine helper), e.g.:
	//   "generate": engine.RunGenerate, "convert": engine.RunConvert, "bench": engine.RunBench,
}

const usage = `usage: lmx [command] [flags]

Without a command, lmx opens the app window and the menu-bar icon and starts
the server.

commands:
  serve     run the HTTP server only (headless)
  pull      download a model from Hugging Face (lmx pull mlx-community/Qwen3-0.6B-4bit)
  ls        list the installed models and whether LMX can run them
  rm        delete an installed model (lmx rm mlx-community/NAME)
  tray      the menu-bar icon process (started by the app)
  version   print the version
  help      show this help

flags of lmx and lmx serve:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand or, without one, to the app.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runApp(ctx, args, stdout, stderr)
	}
	if args[0] == "help" {
		printUsage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "lmx: unknown command %q\n\n", args[0])
		printUsage(stderr)
		return 2
	}
	return cmd(ctx, args[1:], stdout, stderr)
}

// printUsage writes the usage text and the server flags to w.
func printUsage(w io.Writer) {
	fmt.Fprint(w, usage)
	flags := flag.NewFlagSet("lmx", flag.ContinueOnError)
	serverFlags(flags)
	flags.SetOutput(w)
	flags.PrintDefaults()
}

// serverFlags declares the flags shared by the app and serve.
func serverFlags(flags *flag.FlagSet) *app.Config {
	cfg := &app.Config{Version: version}
	flags.StringVar(&cfg.Server.Host, "host", app.DefaultHost, "address to listen on (beyond loopback requires an API key)")
	flags.IntVar(&cfg.Server.Port, "port", app.DefaultPort, "port to listen on (0 picks a free one)")
	flags.StringVar(&cfg.DataDir, "data-dir", "", "where LMX keeps its data (default $LMX_DATA_DIR or the platform's data folder)")
	flags.StringVar(&cfg.Server.APIKey, "api-key", "", "API key required on /v1 (default $LMX_API_KEY; the variable keeps it out of ps)")
	return cfg
}

// parseConfig parses the server flags of args.
func parseConfig(name string, args []string, stderr io.Writer) (*app.Config, error) {
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	cfg := serverFlags(flags)
	if err := flags.Parse(args); err != nil {
		return nil, err
	}
	if flags.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	if cfg.Server.APIKey == "" {
		cfg.Server.APIKey = os.Getenv("LMX_API_KEY")
	}
	if cfg.DataDir == "" {
		dir, err := store.DataDir()
		if err != nil {
			return nil, err
		}
		cfg.DataDir = dir
	}
	ui, err := fs.Sub(dist, "frontend/dist")
	if err != nil {
		return nil, fmt.Errorf("ui assets: %w", err)
	}
	cfg.Assets = ui
	return cfg, nil
}

// newApp builds the app and loads the MLX runtime; a missing runtime is
// reported and the app runs without it.
func newApp(cfg *app.Config, stderr io.Writer) *app.App {
	a := app.New(*cfg, app.MetalEngine(), app.SystemMemory)
	if err := a.LoadEngine(); err != nil {
		fmt.Fprintf(stderr, "lmx: engine unavailable: %v\n", err)
	}
	return a
}

// runServe runs the HTTP server until SIGINT/SIGTERM.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig("serve", args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lmx serve: %v\n", err)
		return 2
	}
	a := newApp(cfg, stderr)
	if err := a.StartServer(); err != nil {
		fmt.Fprintf(stderr, "lmx serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "LMX %s serving at %s\n", version, a.URL())
	go a.PublishEvery(ctx, statusInterval)
	<-ctx.Done()
	a.Close()
	return 0
}

// runTray is the menu-bar child process; it exits when its stdin closes.
func runTray(_ context.Context, _ []string, stdout, stderr io.Writer) int {
	if err := tray.Run(os.Stdin, stdout); err != nil {
		fmt.Fprintf(stderr, "lmx tray: %v\n", err)
		return 1
	}
	return 0
}

// runVersion prints the version.
func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "lmx %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
