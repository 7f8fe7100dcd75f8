package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/lmx-app/lmx/internal/cmdflag"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/library"
)

// Ls returns "lmx ls" judging each model against architectures, the model
// types the engine runs (main passes arch.Supported()): a table of the
// models in the hub cache and the extra library folders (repo, size,
// architecture, parameters, quantization, supported). It works while the
// app runs, using default settings then.
func Ls(architectures []string) func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
		return runLs(args, architectures, stdout, stderr)
	}
}

// RunLs is "lmx ls" without an architecture list: the library judges each
// folder's format only (main wires Ls(arch.Supported()) instead).
func RunLs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runLs(args, nil, stdout, stderr)
}

// runLs scans and prints the library.
func runLs(args, architectures []string, stdout, stderr io.Writer) int {
	var c common
	fs := cmdflag.New("ls", "ls [--data-dir DIR] [--hub-cache DIR]", stderr)
	c.register(fs)
	if pos, err := cmdflag.Parse(fs, args); err != nil || len(pos) != 0 {
		return 2
	}
	settings, err := c.settings()
	if err != nil {
		return fail(stderr, "ls", err)
	}
	cache, err := c.cache(settings)
	if err != nil {
		return fail(stderr, "ls", err)
	}
	cache.Architectures = architectures
	models, err := library.Library{Cache: cache, Folders: settings.Library.ExtraFolders}.Scan()
	if err != nil {
		return fail(stderr, "ls", err)
	}
	printTable(stdout, models)
	return 0
}

// settings reads the stored settings; when the app holds the database the
// defaults are used (ls only reads).
func (c common) settings() (store.Settings, error) {
	db, err := c.openStore()
	if errors.Is(err, store.ErrAlreadyRunning) {
		return store.DefaultSettings(), nil
	}
	if err != nil {
		return store.Settings{}, err
	}
	defer db.Close()
	return db.Settings()
}

// printTable writes the models as aligned columns.
func printTable(w io.Writer, models []library.Model) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tSIZE\tARCH\tPARAMS\tQUANT\tSUPPORTED")
	for _, m := range models {
		supported := "yes"
		if !m.Supported {
			supported = "no: " + m.Reason
		}
		arch := m.Architecture
		if arch == "" {
			arch = "?"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, humanBytes(m.SizeBytes), arch, humanCount(m.Params),
			strings.ReplaceAll(m.Quant.String(), " ", "/"), supported)
	}
	tw.Flush()
}
