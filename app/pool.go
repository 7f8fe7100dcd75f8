package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/gguf"
)

// pool holds the loaded models by library id. A model loads once even when
// several requests ask for it at the same time; it stays loaded until the
// app closes (unloading under memory pressure comes with the scheduler).
type pool struct {
	mu      sync.Mutex
	loaded  map[string]*engine.Model
	loading map[string]*loadCall
}

// loadCall is one model load that later callers wait for.
type loadCall struct {
	done chan struct{}
	m    *engine.Model
	err  error
}

// Model returns the loaded model that name refers to, loading an installed
// one first. name is a library id or, when it is unique, the last element of
// one ("Qwen3-0.6B-4bit" for "mlx-community/Qwen3-0.6B-4bit"); it is only
// compared with the library's ids, never used as a path.
func (a *App) Model(ctx context.Context, name string) (*engine.Model, error) {
	return a.model(ctx, name, false)
}

// model returns the loaded model name refers to; it loads an installed one
// when forced (lmx serve --model) or when the settings load on demand.
func (a *App) model(ctx context.Context, name string, force bool) (*engine.Model, error) {
	if err := a.engineError(); err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrEngineUnavailable, err)
	}
	lm, err := a.resolveModel(name)
	if err != nil {
		return nil, err
	}
	if m, ok := a.pool.loadedModel(lm.ID); ok {
		return m, nil
	}
	if !force {
		s, err := a.db.Settings()
		if err != nil {
			return nil, err
		}
		if !s.Requests.LoadOnDemand {
			return nil, fmt.Errorf("%w: %s is installed but not loaded, and loading models on demand is off in the settings", api.ErrModelNotFound, lm.ID)
		}
	}
	return a.pool.get(ctx, lm.ID, lm.Path)
}

// loadedModel returns the model id if it is loaded.
func (p *pool) loadedModel(id string) (*engine.Model, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.loaded[id]
	return m, ok
}

// engineError is why the MLX runtime cannot run, or nil.
func (a *App) engineError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.engineErr
}

// resolveModel finds the installed, runnable model that name refers to.
func (a *App) resolveModel(name string) (api.LocalModel, error) {
	list := a.Models()
	var byAlias []api.LocalModel
	for _, m := range list {
		if m.ID == name {
			return runnable(m)
		}
		if alias(m.ID) == name {
			byAlias = append(byAlias, m)
		}
	}
	switch len(byAlias) {
	case 1:
		return runnable(byAlias[0])
	case 0:
		return api.LocalModel{}, fmt.Errorf("%w: %q is not installed (GET /v1/models lists the installed models)", api.ErrModelNotFound, name)
	}
	ids := make([]string, len(byAlias))
	for i, m := range byAlias {
		ids[i] = m.ID
	}
	return api.LocalModel{}, fmt.Errorf("%w: %q is ambiguous, name one of %s", api.ErrModelNotFound, name, strings.Join(ids, ", "))
}

// alias is the short name of a library id: the part after the last slash.
func alias(id string) string {
	return filepath.Base(filepath.ToSlash(id))
}

// runnable returns m, or why the engine cannot run it.
func runnable(m api.LocalModel) (api.LocalModel, error) {
	if !m.Supported {
		return m, fmt.Errorf("%w: %s cannot run: %s", api.ErrModelNotFound, m.ID, m.Reason)
	}
	return m, nil
}

// get returns the loaded model id, loading it from dir once.
func (p *pool) get(ctx context.Context, id, dir string) (*engine.Model, error) {
	p.mu.Lock()
	if m, ok := p.loaded[id]; ok {
		p.mu.Unlock()
		return m, nil
	}
	call, ok := p.loading[id]
	if !ok {
		call = &loadCall{done: make(chan struct{})}
		if p.loading == nil {
			p.loading, p.loaded = map[string]*loadCall{}, map[string]*engine.Model{}
		}
		p.loading[id] = call
		// The load outlives a cancelled first caller: others may wait on it.
		go p.load(context.WithoutCancel(ctx), id, dir, call)
	}
	p.mu.Unlock()
	select {
	case <-call.done:
		return call.m, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// load loads one model and publishes the result to its waiters.
func (p *pool) load(ctx context.Context, id, dir string, call *loadCall) {
	call.m, call.err = engine.Load(ctx, dir, engine.Options{})
	p.mu.Lock()
	delete(p.loading, id)
	if call.err == nil {
		p.loaded[id] = call.m
	}
	p.mu.Unlock()
	close(call.done)
}

// LoadedModels lists the ids of the loaded models, sorted.
func (a *App) LoadedModels() []string {
	a.pool.mu.Lock()
	defer a.pool.mu.Unlock()
	ids := make([]string, 0, len(a.pool.loaded))
	for id := range a.pool.loaded {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// closeAll unloads every model.
func (p *pool) closeAll(ctx context.Context) {
	p.mu.Lock()
	loaded := p.loaded
	p.loaded = nil
	p.mu.Unlock()
	for _, m := range loaded {
		_ = m.Close(ctx)
	}
}

// LoadModel loads a model named on the command line (lmx serve --model): a
// model folder (added to the library for this run), a GGUF file (imported
// once into the data dir, where the library finds it) or a library id. It
// returns the id requests use.
func (a *App) LoadModel(ctx context.Context, spec string) (string, error) {
	id := spec
	if isModelDir(spec) {
		// Listed in the library even when the engine cannot run it now.
		dir, err := filepath.Abs(spec)
		if err != nil {
			return "", err
		}
		a.addRunFolder(dir)
		id = dir
	} else if err := a.engineError(); err != nil {
		return "", fmt.Errorf("%w: %v", api.ErrEngineUnavailable, err)
	} else if gguf.IsGGUF(spec) {
		if a.ggufDir() == "" {
			return "", fmt.Errorf("import %s: no data dir to keep the converted model in", spec)
		}
		dir, err := gguf.Cached(ctx, spec, a.ggufDir())
		if err != nil {
			return "", err
		}
		_, _ = a.ScanModels()
		id = dir
	}
	if _, err := a.model(ctx, id, true); err != nil {
		return "", err
	}
	return id, nil
}

// ggufDir is where imported GGUF files' model folders live, one library
// folder scanned like the settings' extra folders.
func (a *App) ggufDir() string {
	if a.cfg.DataDir == "" {
		return ""
	}
	return filepath.Join(a.cfg.DataDir, "gguf")
}

// isModelDir reports whether path is a folder holding config.json.
func isModelDir(path string) bool {
	st, err := os.Stat(filepath.Join(path, "config.json"))
	return err == nil && !st.IsDir()
}

// addRunFolder adds a model folder to the library for this run and rescans.
func (a *App) addRunFolder(dir string) {
	a.lib.mu.Lock()
	if !slices.Contains(a.lib.runFolders, dir) {
		a.lib.runFolders = append(a.lib.runFolders, dir)
		a.lib.lib.Folders = append(a.lib.lib.Folders, dir)
	}
	a.lib.mu.Unlock()
	_, _ = a.ScanModels()
}
