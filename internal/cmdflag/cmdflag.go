// Package cmdflag holds what every lmx subcommand does with its flags: a
// flag set that reports to the command's stderr, and parsing that lets flags
// stand before, between or after the positional arguments
// ("lmx pull REPO --data-dir X").
package cmdflag

import (
	"flag"
	"fmt"
	"io"
)

// New returns a flag set for "lmx name" whose errors and usage go to stderr.
func New(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: lmx %s\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args with fs, flags interleaved with positional arguments,
// and returns the positional ones in order.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
