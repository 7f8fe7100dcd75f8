// Command lmx is LMX: a menu-bar app that runs language models on Apple's MLX
// and serves them on an OpenAI-compatible endpoint on localhost. This file
// only wires flags and subcommands to the app package.
package main

import (
	"context"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/lmx-app/lmx/app"
	"github.com/lmx-app/lmx/app/tray"
	"github.com/lmx-app/lmx/engine/arch"
	enginecli "github.com/lmx-app/lmx/engine/cli"
	"github.com/lmx-app/lmx/engine/group"
	"github.com/lmx-app/lmx/metal"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/cli"
	"github.com/lmx-app/lmx/store/library"
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
	"serve":    runServe,
	"tray":     runTray,
	"version":  runVersion,
	"pull":     cli.Pull(arch.Supported()),
	"ls":       cli.Ls(arch.Supported()), // supported: the engine has the architecture
	"rm":       cli.RunRm,
	"generate": enginecli.RunGenerate,
	"convert":  enginecli.RunConvert,
	"bench":    enginecli.RunBench,
	"worker":   runWorker,
}

const usage = `usage: lmx [command] [flags]

Without a command, lmx opens the app window and the menu-bar icon and starts
the server.

commands:
  serve     run the HTTP server only (headless)
  pull      download a model from Hugging Face (lmx pull mlx-community/Qwen3-0.6B-4bit)
  ls        list the installed models and whether LMX can run them
  rm        delete an installed model (lmx rm mlx-community/NAME)
  generate  generate text from a prompt with a model folder, printing speeds
  convert   convert a Hugging Face checkpoint into an MLX model folder (optionally quantized)
  bench     measure prefill and decode speed, side by side with mlx_lm
  worker    be rank R of a group of machines led by "lmx serve --hosts" (lmx worker --hosts FILE --rank R [--backend ring|jaccl|nccl|any])
  tray      the menu-bar icon process (started by the app)
  version   print the version
  help      show this help

flags of lmx and lmx serve:
`

func main() {
	// lmx generate imports a GGUF file where the app does.
	enginecli.GGUFCacheDir = func() (string, error) {
		dir, err := store.DataDir()
		return filepath.Join(dir, "gguf"), err
	}
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
	new(serverFlags).register(flags)
	flags.SetOutput(w)
	flags.PrintDefaults()
}

// serverFlags are the flags shared by the app and serve. Those given on the
// command line override the settings for this run only.
type serverFlags struct {
	host, apiKey, dataDir string
	port                  int
	models                modelFlag
	hosts                 string
	groupPort             int
	backend               string
	groupTimeout          time.Duration
	splitModels           modelFlag
}

// modelFlag collects repeated --model flags.
type modelFlag []string

func (m *modelFlag) String() string     { return strings.Join(*m, ",") }
func (m *modelFlag) Set(v string) error { *m = append(*m, v); return nil }

// register adds the flags to flags.
func (f *serverFlags) register(flags *flag.FlagSet) {
	def := store.DefaultSettings().Server
	flags.StringVar(&f.host, "host", def.Host, "address to listen on, this run only (default: the setting; beyond loopback requires an API key)")
	flags.IntVar(&f.port, "port", def.Port, "port to listen on, this run only (default: the setting; 0 picks a free one)")
	flags.StringVar(&f.dataDir, "data-dir", "", "where LMX keeps its data (default $LMX_DATA_DIR or the platform's data folder)")
	flags.StringVar(&f.apiKey, "api-key", "", "API key required on /v1, this run only (default $LMX_API_KEY, else the setting; the variable keeps it out of ps)")
	flags.Var(&f.models, "model", "load a model at start: a model folder, an installed ORG/NAME or a .gguf file (repeatable)")
	flags.StringVar(&f.hosts, "hosts", "", "lead a group of machines (mlx.launch hostfile: a JSON list of {\"ssh\", \"ips\"[, \"rdma\"]}; this machine is the first) and split models across them; start \"lmx worker\" on the others")
	flags.IntVar(&f.groupPort, "group-port", group.DefaultPort, groupPortUsage)
	flags.StringVar(&f.backend, "backend", metal.BackendRing, backendUsage)
	flags.DurationVar(&f.groupTimeout, "group-timeout", group.DefaultDeadline, "with --hosts: how long a step may wait for the group; a rank silent that long (frozen, cable pulled) is given up, its models' requests fail and the group forms again when it is back")
	flags.Var(&f.splitModels, "split-model", "with --hosts: a model to split across the group (repeatable; default every model)")
}

// parseConfig parses the server flags of args; only flags given on the
// command line become overrides.
func parseConfig(name string, args []string, stderr io.Writer) (*app.Config, []string, error) {
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	var f serverFlags
	f.register(flags)
	if err := flags.Parse(args); err != nil {
		return nil, nil, err
	}
	if flags.NArg() > 0 {
		return nil, nil, fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	cfg := &app.Config{Version: version, DataDir: f.dataDir}
	flags.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "host":
			cfg.Overrides.Host = &f.host
		case "port":
			cfg.Overrides.Port = &f.port
		case "api-key":
			cfg.Overrides.APIKey = &f.apiKey
		}
	})
	if f.hosts != "" {
		hosts, err := group.ReadHostfile(f.hosts)
		if err != nil {
			return nil, nil, err
		}
		if err := group.ValidBackend(f.backend); err != nil {
			return nil, nil, err
		}
		if f.groupTimeout <= 0 {
			return nil, nil, fmt.Errorf("--group-timeout %v: want a positive duration such as 60s", f.groupTimeout)
		}
		cfg.Group = &app.GroupConfig{HostsFile: f.hosts, Hosts: hosts, Port: f.groupPort, Backend: f.backend,
			Deadline: f.groupTimeout, SplitModels: f.splitModels}
	}
	if key := os.Getenv("LMX_API_KEY"); cfg.Overrides.APIKey == nil && key != "" {
		cfg.Overrides.APIKey = &key
	}
	if cfg.DataDir == "" {
		dir, err := store.DataDir()
		if err != nil {
			return nil, nil, err
		}
		cfg.DataDir = dir
	}
	ui, err := fs.Sub(dist, "frontend/dist")
	if err != nil {
		return nil, nil, fmt.Errorf("ui assets: %w", err)
	}
	cfg.Assets = ui
	return cfg, f.models, nil
}

// loadModels loads the --model flags' models; a failure is reported and the
// server keeps running.
func loadModels(ctx context.Context, a *app.App, specs []string, stdout, stderr io.Writer) {
	for _, spec := range specs {
		fmt.Fprintf(stdout, "loading model %s\n", spec)
		id, err := a.LoadModel(ctx, spec)
		if err != nil {
			fmt.Fprintf(stderr, "lmx: model %s: %v\n", spec, err)
			continue
		}
		fmt.Fprintf(stdout, "loaded model %s\n", id)
	}
}

// openApp opens the store in the data dir and builds the app on it, loading
// the MLX runtime (a missing runtime is reported and the app runs without
// it). Another instance owning the data dir gives store.ErrAlreadyRunning.
func openApp(cfg *app.Config, stderr io.Writer) (*app.App, *store.DB, error) {
	db, err := store.Open(cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}
	a, err := app.New(*cfg, db, app.MetalEngine(), app.SystemMemory)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	if err := a.LoadEngine(); err != nil {
		fmt.Fprintf(stderr, "lmx: engine unavailable: %v\n", err)
	}
	return a, db, nil
}

// alreadyRunning is the one line printed when another instance owns the data dir.
func alreadyRunning(stderr io.Writer, dataDir string) {
	fmt.Fprintf(stderr, "LMX is already running (data dir %s); using that instance\n", dataDir)
}

// runServe runs the HTTP server until SIGINT/SIGTERM.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, specs, err := parseConfig("serve", args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lmx serve: %v\n", err)
		return 2
	}
	a, db, err := openApp(cfg, stderr)
	if errors.Is(err, store.ErrAlreadyRunning) {
		alreadyRunning(stderr, cfg.DataDir)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "lmx serve: %v\n", err)
		return 1
	}
	defer db.Close()
	defer a.Close()
	if err := a.StartServer(); err != nil {
		fmt.Fprintf(stderr, "lmx serve: %v\n", err)
		return 1
	}
	// Models load before the URL is announced, so a client started on
	// that line finds them.
	loadModels(ctx, a, specs, stdout, stderr)
	fmt.Fprintf(stdout, "LMX %s serving at %s\n", version, a.URL())
	if hint := a.Status(ctx).ModelHint; hint != "" {
		fmt.Fprintln(stdout, hint)
	}
	go a.PublishEvery(ctx, statusInterval)
	<-ctx.Done()
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

// runWorker is a follower rank of a group led by "lmx serve --hosts": it
// loads what the leader loads (the same folder, or the installed model of
// the same name) and takes the leader's steps, forming the group again
// whenever a rank was lost, until SIGINT/SIGTERM.
func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("worker", flag.ContinueOnError)
	flags.SetOutput(stderr)
	hostsFile := flags.String("hosts", "", "the group's hostfile (the same as the leader's)")
	rank := flags.Int("rank", -1, "this machine's rank: its place in the hostfile (1 or more; 0 is the leader)")
	port := flags.Int("group-port", group.DefaultPort, groupPortUsage)
	backend := flags.String("backend", metal.BackendRing, backendUsage+" (the same as the leader's)")
	dataDir := flags.String("data-dir", "", "where LMX keeps its data (default $LMX_DATA_DIR or the platform's data folder)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if *hostsFile == "" || *rank < 1 {
		fmt.Fprintln(stderr, "lmx worker: --hosts FILE and --rank R (1 or more) are required")
		return 2
	}
	hosts, err := group.ReadHostfile(*hostsFile)
	if err == nil {
		err = group.ValidBackend(*backend)
	}
	if err == nil && *rank >= len(hosts) {
		err = fmt.Errorf("rank %d, but %s lists %d hosts", *rank, *hostsFile, len(hosts))
	}
	if err == nil && *dataDir == "" {
		*dataDir, err = store.DataDir()
	}
	if err == nil {
		err = os.MkdirAll(*dataDir, 0o700)
	}
	if err == nil {
		err = group.UseBackend(*backend, hosts, *rank, *port, *dataDir)
	}
	if err == nil {
		err = metal.Load("")
	}
	if err != nil {
		fmt.Fprintf(stderr, "lmx worker: %v\n", err)
		return 1
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stdout, "lmx worker: "+format+"\n", a...) }
	logf("rank %d of %d, joining the %s group (this rank at %s:%d)", *rank, len(hosts), *backend, hosts[*rank].IPs[0], *port+*rank)
	done := make(chan error, 1)
	go func() { done <- group.Work(ctx, *backend, installedModel, logf) }()
	select {
	case <-ctx.Done():
		return 0 // a join or a step may block on the network: the process ends here
	case err := <-done:
		if err != nil && ctx.Err() == nil {
			fmt.Fprintf(stderr, "lmx worker: %v\n", err)
			return 1
		}
		return 0
	}
}

// groupPortUsage documents --group-port.
const groupPortUsage = "the group's first TCP port: with ring, rank r listens on it + r; with jaccl and nccl, the ranks meet at rank 0 on it"

// backendUsage documents --backend.
const backendUsage = "with --hosts: MLX's distributed backend: ring (TCP, every build), jaccl (Thunderbolt 5 RDMA, macOS; the hostfile's \"rdma\" lists), nccl (NVIDIA GPUs, CUDA build) or any (the first MLX finds)"

// installedModel finds a worker's copy of the leader's model: the same
// folder when it exists here, else the installed model of the same name.
func installedModel(name, leaderDir string) (string, error) {
	if _, err := os.Stat(filepath.Join(leaderDir, "config.json")); err == nil {
		return leaderDir, nil
	}
	dir, err := library.HubCacheDir()
	if err != nil {
		return "", err
	}
	found, err := library.Library{Cache: library.Cache{Dir: dir, Architectures: arch.Supported()}}.Scan()
	if err != nil {
		return "", err
	}
	for _, m := range found {
		if m.ID == name {
			return m.Path, nil
		}
	}
	return "", fmt.Errorf("model %s is not installed on this machine (lmx pull %s)", name, name)
}
