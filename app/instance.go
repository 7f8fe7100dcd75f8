package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lmx-app/lmx/app/api"
)

// InstanceFile, in the data directory, holds the server URL of the running
// instance: a second launch cannot read the settings (the first holds the
// database lock), so this is how it finds the first.
const InstanceFile = "instance.url"

// ErrNoInstanceURL means the running instance's server is not listening, so
// a second launch cannot reach it.
var ErrNoInstanceURL = errors.New("the running LMX is not serving")

// recordInstance writes the server's URL to InstanceFile, or removes the
// file while the server is stopped. Without a data dir (tests) it does
// nothing; a failure only costs the second-launch convenience.
func (a *App) recordInstance() {
	if a.cfg.DataDir == "" {
		return
	}
	path := filepath.Join(a.cfg.DataDir, InstanceFile)
	if url := a.URL(); url != "" {
		_ = os.WriteFile(path, []byte(url+"\n"), 0o600)
		return
	}
	_ = os.Remove(path)
}

// SetWindow registers how to show the app window (desktop builds); until
// then ShowWindow reports that this process has none.
func (a *App) SetWindow(show func()) {
	a.mu.Lock()
	a.showWindow = show
	a.mu.Unlock()
}

// ShowWindow brings the app window to the front.
func (a *App) ShowWindow() error {
	a.mu.Lock()
	show := a.showWindow
	a.mu.Unlock()
	if show == nil {
		return fmt.Errorf("%w: this LMX has no window (lmx serve)", api.ErrUnavailable)
	}
	show()
	return nil
}

// ShowRunning asks the instance that owns dataDir to show its window,
// through POST /api/window/show on the URL it recorded.
func ShowRunning(ctx context.Context, dataDir string) error {
	raw, err := os.ReadFile(filepath.Join(dataDir, InstanceFile))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNoInstanceURL
	}
	if err != nil {
		return fmt.Errorf("find the running instance: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := strings.TrimSpace(string(raw)) + "/api/window/show"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return fmt.Errorf("show window: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("show window: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("show window: %s answered %s", url, resp.Status)
	}
	return nil
}
