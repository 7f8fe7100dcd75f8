// Package cli implements the store's subcommands of the lmx binary:
// "lmx pull", "lmx ls" and "lmx rm". Each Run function parses its own flags
// (--data-dir, --hub-cache, --endpoint; flags may follow the arguments)
// and returns the process exit code.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub"
	"github.com/lmx-app/lmx/store/library"
)

// common holds the flags every subcommand takes.
type common struct {
	dataDir  string
	hubCache string
	endpoint string
}

// register adds the common flags to fs.
func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", "", "LMX data directory (default $LMX_DATA_DIR or the platform's)")
	fs.StringVar(&c.hubCache, "hub-cache", "", "Hugging Face cache (default $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)")
	fs.StringVar(&c.endpoint, "endpoint", "", "Hub endpoint (default $HF_ENDPOINT or https://huggingface.co)")
}

// openStore opens the database in the data directory.
func (c common) openStore() (*store.DB, error) {
	dir := c.dataDir
	if dir == "" {
		var err error
		if dir, err = store.DataDir(); err != nil {
			return nil, err
		}
	}
	db, err := store.Open(dir)
	if errors.Is(err, store.ErrAlreadyRunning) {
		return nil, fmt.Errorf("the LMX app is running and owns %s: download from the Models card of its dashboard, or quit it first: %w", dir, err)
	}
	return db, err
}

// cache resolves the hub cache: flag, then setting, then environment.
func (c common) cache(s store.Settings) (library.Cache, error) {
	dir := c.hubCache
	if dir == "" {
		dir = s.Library.HubCache
	}
	if dir == "" {
		var err error
		if dir, err = library.HubCacheDir(); err != nil {
			return library.Cache{}, err
		}
	}
	return library.Cache{Dir: dir}, nil
}

// client builds the Hub client: flag, setting, then environment; the
// token comes from $HF_TOKEN, else the setting.
func (c common) client(s store.Settings) *hub.Client {
	endpoint := c.endpoint
	if endpoint == "" {
		endpoint = s.Library.Endpoint
	}
	cl := hub.NewClient(endpoint, "")
	if cl.Token == "" {
		cl.Token = s.Library.HubToken
	}
	return cl
}

// fail prints "lmx CMD: err" and returns exit code 1.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "lmx %s: %v\n", cmd, err)
	return 1
}

// humanBytes renders n as B, KiB, MiB, GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 3; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}

// humanCount renders a parameter count as 260K, 1.5B.
func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
