package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lmx-app/lmx/internal/cmdflag"
	"github.com/lmx-app/lmx/store/hub"
	"github.com/lmx-app/lmx/store/library"
)

// RunPull implements "lmx pull [flags] REPO": it downloads a model from the
// Hub into the cache with a progress bar (redrawn in place on a terminal,
// plain lines otherwise). Interrupting it (ctx canceled) keeps the partial
// files; running it again resumes.
func RunPull(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runPull(ctx, args, nil, stdout, stderr)
}

// Pull is "lmx pull" judging the downloaded model against architectures,
// the model types the engine runs (main passes arch.Supported()), so its
// last line says whether LMX can run it.
func Pull(architectures []string) func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return runPull(ctx, args, architectures, stdout, stderr)
	}
}

func runPull(ctx context.Context, args, architectures []string, stdout, stderr io.Writer) int {
	var c common
	var revision string
	fs := cmdflag.New("pull", "pull [--revision REV] [--data-dir DIR] [--hub-cache DIR] [--endpoint URL] mlx-community/NAME", stderr)
	c.register(fs)
	fs.StringVar(&revision, "revision", "main", "branch, tag or commit to download")
	pos, err := cmdflag.Parse(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	m, err := pull(ctx, c, pos[0], revision, architectures, stdout)
	if err != nil {
		return fail(stderr, "pull", err)
	}
	fmt.Fprintf(stdout, "%s@%s installed in %s\n  %s\n", m.Repo, m.Commit[:12], m.Path, describe(m))
	return 0
}

// pull runs one download with a progress bar.
func pull(ctx context.Context, c common, repo, revision string, architectures []string, stdout io.Writer) (library.Model, error) {
	db, err := c.openStore()
	if err != nil {
		return library.Model{}, err
	}
	defer db.Close()
	settings, err := db.Settings()
	if err != nil {
		return library.Model{}, err
	}
	cache, err := c.cache(settings)
	if err != nil {
		return library.Model{}, err
	}
	cache.Architectures = architectures
	b := &bar{w: stdout, tty: isTerminal(stdout)}
	mgr := hub.NewManager(c.client(settings), cache, db, hub.Options{OnProgress: b.update, ProgressEvery: 200 * time.Millisecond})
	defer mgr.Close()
	m, err := mgr.Pull(ctx, repo, revision)
	b.finish()
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return library.Model{}, fmt.Errorf("interrupted; run the same command to resume: %w", err)
	}
	return m, err
}

// describe is a one-line summary of a model.
func describe(m library.Model) string {
	s := fmt.Sprintf("%s, %s params, %s, quantization %s", m.Architecture, humanCount(m.Params), humanBytes(m.SizeBytes), m.Quant)
	if !m.Supported {
		s += "; not supported: " + m.Reason
	}
	return s
}

// bar renders download progress.
type bar struct {
	w        io.Writer
	tty      bool
	mu       sync.Mutex
	lastStep int64 // plain mode: last tenth printed
	drawn    bool
}

// update draws p: in place on a terminal, else one line per 10%.
func (b *bar) update(p hub.Progress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.TotalBytes == 0 {
		return
	}
	line := progressLine(p)
	if b.tty {
		fmt.Fprintf(b.w, "\r%-100s", line)
		b.drawn = true
		return
	}
	step := p.DoneBytes * 10 / p.TotalBytes
	if step > b.lastStep || !b.drawn {
		fmt.Fprintln(b.w, line)
		b.lastStep, b.drawn = step, true
	}
}

// finish ends the bar's line on a terminal.
func (b *bar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}

// progressLine renders "repo  [####----]  42%  1.2 MiB / 3.0 MiB  5.1 MiB/s  ETA 0:03".
func progressLine(p hub.Progress) string {
	pct := p.DoneBytes * 100 / p.TotalBytes
	filled := int(pct / 5)
	line := fmt.Sprintf("%s  [%s%s] %3d%%  %s / %s", p.Repo, strings.Repeat("#", filled), strings.Repeat("-", 20-filled),
		pct, humanBytes(p.DoneBytes), humanBytes(p.TotalBytes))
	if p.BytesPerSec > 0 {
		line += fmt.Sprintf("  %s/s", humanBytes(int64(p.BytesPerSec)))
	}
	if p.ETA >= 0 {
		line += "  ETA " + formatETA(p.ETA)
	}
	return line
}

// formatETA renders a duration as m:ss or h:mm:ss.
func formatETA(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
