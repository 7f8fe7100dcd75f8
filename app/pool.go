package app

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/gguf"
	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/metal"
	"github.com/lmx-app/lmx/store"
)

// pool holds the loaded models by library id within the memory budget
// (MemoryBudget). Every model has an estimate (weights + KV cache for the
// configured context + its prefix cache share) reserved from the budget
// while it loads, stays loaded and unloads. A load that does not fit
// unloads the least recently used idle, unpinned models first; idle models
// also unload after the settings' idle_unload_sec. A model is busy while a
// request that resolved it runs (until the request's context ends): busy
// models are never unloaded to make room or for idleness, and an unload by
// hand waits for their requests before closing.
type pool struct {
	mu      sync.Mutex
	models  map[string]*poolEntry // loading and loaded, by id
	closing []*poolEntry          // unloading; their memory is still reserved
	changed chan struct{}         // closed and replaced on every change
	idle    *time.Timer           // next idle unload; nil when none is due
	shut    bool                  // closeAll ran: nothing loads any more
}

// poolEntry is one model of the pool.
type poolEntry struct {
	id, dir  string
	m        *engine.Model // nil while loading
	ready    chan struct{} // closed when the load ends; err says how
	err      error
	need     poolNeed
	busy     int // requests holding the model
	loadedAt time.Time
	lastUsed time.Time
	disk     *generate.DiskCache // the prefix cache's files; nil when not kept on disk
	group    bool                // split across the group of machines
}

// poolNeed is a model's reserved memory and its parts.
type poolNeed struct {
	est    engine.MemoryEstimate
	tokens int   // context the KV figure is for (bounded by max_kv_size)
	prefix int64 // the prefix cache's share
	draft  int64 // the draft model (serving.draft_models), weights and KV
}

// total is the bytes reserved for the model.
func (n poolNeed) total() int64 { return n.est.Total() + n.prefix + n.draft }

// Model returns the loaded model that name refers to, loading an installed
// one first. name is a library id or, when it is unique, the last element of
// one ("Qwen3-0.6B-4bit" for "mlx-community/Qwen3-0.6B-4bit"); it is only
// compared with the library's ids, never used as a path. The model counts
// as busy (not unloaded) until ctx ends.
func (a *App) Model(ctx context.Context, name string) (*engine.Model, error) {
	return a.model(ctx, name, false)
}

// model returns the loaded model name refers to; it loads an installed one
// when forced (lmx serve --model, the pool API) or when the settings load on
// demand. Unforced callers are requests: they hold the model until ctx ends.
func (a *App) model(ctx context.Context, name string, force bool) (*engine.Model, error) {
	if err := a.engineError(); err != nil {
		return nil, fmt.Errorf("%w: %v", api.ErrEngineUnavailable, err)
	}
	lm, err := a.resolveModel(name)
	if err != nil {
		return nil, err
	}
	s, err := a.db.Settings()
	if err != nil {
		return nil, err
	}
	if !force && !s.Requests.LoadOnDemand && !a.pool.isLoaded(lm.ID) {
		return nil, fmt.Errorf("%w: %s is installed but not loaded, and loading models on demand is off in the settings", api.ErrModelNotFound, lm.ID)
	}
	return a.acquire(ctx, lm.ID, lm.Path, !force)
}

// isLoaded reports whether id is loaded (not loading or unloading).
func (p *pool) isLoaded(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.models[id]
	return ok && e.m != nil
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

// acquire returns the loaded model id, loading it from dir once however
// many callers ask at the same time. hold marks it busy until ctx ends (a
// context that never ends, such as context.Background, holds nothing).
func (a *App) acquire(ctx context.Context, id, dir string, hold bool) (*engine.Model, error) {
	p := &a.pool
	for {
		p.mu.Lock()
		if p.shut {
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: the app is closing", api.ErrUnavailable)
		}
		e, ok := p.models[id]
		if ok && e.m != nil {
			e.lastUsed = time.Now()
			if hold && ctx.Done() != nil {
				e.busy++
				context.AfterFunc(ctx, func() { a.release(e) })
			}
			a.armIdle()
			p.mu.Unlock()
			return e.m, nil
		}
		if !ok {
			e = &poolEntry{id: id, dir: dir, ready: make(chan struct{})}
			if p.models == nil {
				p.models = map[string]*poolEntry{}
			}
			p.models[id] = e
			// The load outlives a cancelled first caller: others may wait on it.
			go a.load(context.WithoutCancel(ctx), e)
		}
		p.mu.Unlock()
		select {
		case <-e.ready:
			if e.err != nil {
				return nil, e.err
			}
			// Loaded: take it in the next round (unless unloaded meanwhile,
			// when the next round loads it again).
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// release ends one request's hold on e.
func (a *App) release(e *poolEntry) {
	a.pool.mu.Lock()
	defer a.pool.mu.Unlock()
	e.busy--
	e.lastUsed = time.Now()
	a.pool.notify()
	a.armIdle()
}

// notify wakes everyone waiting for the pool to change. Caller holds mu.
func (p *pool) notify() {
	if p.changed != nil {
		close(p.changed)
	}
	p.changed = make(chan struct{})
}

// waitChange returns a channel closed at the next change. Caller holds mu.
func (p *pool) waitChange() <-chan struct{} {
	if p.changed == nil {
		p.changed = make(chan struct{})
	}
	return p.changed
}

// load estimates e, makes room for it and loads it, then publishes the
// result to its waiters.
func (a *App) load(ctx context.Context, e *poolEntry) {
	// A panic while loading (a malformed model the checks missed) fails
	// this load for its waiters; it is logged with its stack.
	var m *engine.Model
	err := safe.Call("load model "+e.id, func() error {
		safe.Point("pool.load")
		var err error
		m, err = a.loadEntry(ctx, e)
		return err
	})
	p := &a.pool
	p.mu.Lock()
	if err == nil && p.shut {
		_ = m.Close(ctx)
		err = fmt.Errorf("%w: the app is closing", api.ErrUnavailable)
	}
	if err != nil {
		delete(p.models, e.id)
		e.err = err
	} else {
		e.m, e.loadedAt, e.lastUsed = m, time.Now(), time.Now()
	}
	p.notify()
	a.armIdle()
	p.mu.Unlock()
	close(e.ready)
}

// loadEntry does the work of load: the estimate, the room, the MLX limits
// and the engine load.
func (a *App) loadEntry(ctx context.Context, e *poolEntry) (*engine.Model, error) {
	s, err := a.db.Settings()
	if err != nil {
		return nil, err
	}
	opts := engine.Options{MaxKVSize: s.Cache.MaxKVSize, KVBits: s.Cache.KVBits}
	draftDir, err := a.draftDir(e.id, s)
	if err != nil {
		return nil, err
	}
	need, err := estimateNeed(e.dir, s, opts)
	if err != nil {
		return nil, err
	}
	if a.splits(e.id) {
		// This rank holds about 1/n of the weights and of the KV cache.
		leader, n, err := a.groupLeader(ctx)
		if err != nil {
			return nil, err
		}
		if draftDir != "" {
			return nil, fmt.Errorf("draft model of %s: %w", e.id, generate.ErrGroupUnsupported)
		}
		opts.Group, opts.Name = leader, e.id
		need.est.WeightBytes /= int64(n)
		need.est.KVBytes /= int64(n)
		e.group = true
	}
	if draftDir != "" {
		d, err := engine.Estimate(draftDir, 0, opts)
		if err != nil {
			return nil, fmt.Errorf("draft model: %w", err)
		}
		need.draft = d.Total()
	}
	budget := a.MemoryBudget(s)
	if err := a.makeRoom(ctx, e, need, budget.Bytes, s); err != nil {
		return nil, err
	}
	if err := a.applyMemoryLimits(s); err != nil {
		return nil, err
	}
	if opts.Serving, err = a.servingOptions(e.dir, s); err != nil {
		return nil, err
	}
	if e.group {
		opts.Serving.Disk = nil // not in a group yet (each rank would keep its own files)
	}
	e.disk = opts.Serving.Disk // read under p.mu once e.m is set
	m, err := engine.Load(ctx, e.dir, opts)
	if e.group {
		a.refreshGroupStats()
	}
	if err != nil || draftDir == "" {
		return m, err
	}
	if err := m.LoadDraft(ctx, draftDir, 0); err != nil {
		_ = m.Close(ctx)
		return nil, err
	}
	return m, nil
}

// draftDir is the folder of the draft model the settings name for id ("":
// none).
func (a *App) draftDir(id string, s store.Settings) (string, error) {
	name := s.Serving.DraftModels[id]
	if name == "" {
		name = s.Serving.DraftModels[alias(id)]
	}
	if name == "" {
		return "", nil
	}
	d, err := a.resolveModel(name)
	if err != nil {
		return "", fmt.Errorf("draft model of %s (serving.draft_models): %w", id, err)
	}
	return d.Path, nil
}

// servingOptions are the scheduler's settings for the model in dir: batch
// limits and the prefix cache, kept on disk under the data folder when
// cache.persist_to_disk is on.
func (a *App) servingOptions(dir string, s store.Settings) (generate.SchedulerOptions, error) {
	opts := generate.SchedulerOptions{
		MaxSequences:     s.Serving.MaxSequences,
		MaxBatchTokens:   s.Serving.MaxBatchTokens,
		PrefixCacheBytes: s.Cache.PromptCacheBytes,
		MemoryLimit:      s.Memory.LimitBytes,
	}
	if !s.Cache.PersistToDisk || a.cfg.DataDir == "" || s.Cache.DiskCacheBytes <= 0 || s.Cache.PromptCacheBytes <= 0 {
		return opts, nil
	}
	id, err := generate.ModelID(dir)
	if err != nil {
		return opts, err
	}
	disk, err := generate.NewDiskCache(filepath.Join(a.cfg.DataDir, "prefix-cache"), s.Cache.DiskCacheBytes, id, log.Printf)
	if err != nil {
		return opts, fmt.Errorf("prefix cache on disk: %w", err)
	}
	opts.Disk = disk
	return opts, nil
}

// estimateNeed estimates a model folder under settings s.
func estimateNeed(dir string, s store.Settings, opts engine.Options) (poolNeed, error) {
	est, err := engine.Estimate(dir, 0, opts)
	if err != nil {
		return poolNeed{}, err
	}
	tokens := est.ContextTokens
	if opts.MaxKVSize > 0 {
		tokens = min(tokens, opts.MaxKVSize)
	}
	return poolNeed{est: est, tokens: tokens, prefix: s.Cache.PromptCacheBytes}, nil
}

// ErrOverBudget refuses a model load that does not fit in the memory
// budget; the message gives the estimate and the budget. It is an
// api.ErrUnavailable (409).
var ErrOverBudget = fmt.Errorf("%w: not enough memory", api.ErrUnavailable)

// The app serves the management API's pool routes.
var _ api.PoolBackend = (*App)(nil)

// makeRoom reserves need for e, unloading idle models (least recently used
// first) until it fits the budget and the model count, waiting for models
// that are unloading. Models that are pinned or busy stay; when only they
// are in the way the load is refused with the reason.
func (a *App) makeRoom(ctx context.Context, e *poolEntry, need poolNeed, budget int64, s store.Settings) error {
	limited := budget > 0 // 0: the budget is unknown and not enforced
	if limited && need.total() > budget {
		return fmt.Errorf("%w: %s needs %s but the memory budget is %s (lower cache.max_kv_size or cache.prompt_cache_bytes, or raise memory.limit_bytes)",
			ErrOverBudget, e.id, describeNeed(need), gb(budget))
	}
	p := &a.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		used, closing, count := p.reserved(e)
		fitsCount := s.Pool.MaxModels == 0 || count < s.Pool.MaxModels
		fitsMemory := !limited || used+need.total() <= budget
		if fitsMemory && fitsCount {
			e.need = need
			return nil
		}
		// Unload more only when the models already unloading free too little.
		if (limited && used-closing+need.total() > budget) || !fitsCount {
			if victim := p.lruIdle(e, s.Pool.Pinned); victim != nil {
				a.unloadLocked(victim)
				continue
			}
			if closing == 0 && !fitsCount {
				return fmt.Errorf("%w: %s cannot load: %d models are loaded (pool.max_models) and %s", ErrOverBudget, e.id, count, p.inTheWay(e, s.Pool.Pinned))
			}
			if closing == 0 {
				return fmt.Errorf("%w: %s needs %s but only %s of the %s memory budget is free, and %s",
					ErrOverBudget, e.id, describeNeed(need), gb(budget-used), gb(budget), p.inTheWay(e, s.Pool.Pinned))
			}
		}
		changed := p.waitChange()
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			p.mu.Lock()
			return ctx.Err()
		}
		p.mu.Lock()
	}
}

// reserved sums the memory reserved by every model but e (loading, loaded
// and unloading), the unloading ones' part of it, and counts the loading
// and loaded ones. Caller holds mu.
func (p *pool) reserved(e *poolEntry) (used, closing int64, count int) {
	for _, o := range p.models {
		if o != e {
			used += o.need.total()
			count++
		}
	}
	for _, o := range p.closing {
		closing += o.need.total()
	}
	return used + closing, closing, count
}

// lruIdle returns the least recently used loaded model that is neither
// busy, pinned nor except; nil when none. Caller holds mu.
func (p *pool) lruIdle(except *poolEntry, pinned []string) *poolEntry {
	var victim *poolEntry
	for _, o := range p.models {
		if o == except || o.m == nil || o.busy > 0 || slices.Contains(pinned, o.id) {
			continue
		}
		if victim == nil || o.lastUsed.Before(victim.lastUsed) {
			victim = o
		}
	}
	return victim
}

// inTheWay says which models keep their memory: pinned, busy or loading.
// Caller holds mu.
func (p *pool) inTheWay(except *poolEntry, pinned []string) string {
	var parts []string
	for _, id := range sortedKeys(p.models) {
		o := p.models[id]
		switch {
		case o == except:
		case slices.Contains(pinned, id):
			parts = append(parts, id+" is pinned")
		case o.m == nil:
			parts = append(parts, id+" is loading")
		case o.busy > 0:
			parts = append(parts, fmt.Sprintf("%s is serving %d requests", id, o.busy))
		}
	}
	if len(parts) == 0 {
		return "no model can be unloaded"
	}
	return "no model can be unloaded: " + strings.Join(parts, ", ")
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describeNeed spells out an estimate: "5.2 GB (weights 4.1 GB + KV 0.9 GB
// at 32768 tokens + prefix cache 0.2 GB)".
func describeNeed(n poolNeed) string {
	draft := ""
	if n.draft > 0 {
		draft = " + draft model " + gb(n.draft)
	}
	return fmt.Sprintf("%s (weights %s + KV %s at %d tokens + prefix cache %s%s)",
		gb(n.total()), gb(n.est.WeightBytes), gb(n.est.KVBytes), n.tokens, gb(n.prefix), draft)
}

// gb formats bytes in decimal gigabytes ("0.004 GB" below 0.1 GB, so tiny
// models do not read as zero).
func gb(b int64) string {
	g := float64(b) / 1e9
	if g < 0.1 {
		return fmt.Sprintf("%.3g GB", g)
	}
	return fmt.Sprintf("%.1f GB", g)
}

// unloadLocked takes e out of the pool and closes it in the background once
// its requests end; its memory stays reserved until then. Caller holds mu.
func (a *App) unloadLocked(e *poolEntry) {
	p := &a.pool
	if p.models[e.id] == e {
		delete(p.models, e.id)
	}
	p.closing = append(p.closing, e)
	p.notify()
	safe.Go("unload model "+e.id, func() { a.close(e) })
}

// close waits until no request holds e, frees its model and MLX's cached
// buffers, and gives its reservation back.
func (a *App) close(e *poolEntry) {
	p := &a.pool
	p.mu.Lock()
	for e.busy > 0 {
		changed := p.waitChange()
		p.mu.Unlock()
		<-changed
		p.mu.Lock()
	}
	p.mu.Unlock()
	// Close also waits for a generation still finishing its step.
	_ = e.m.Close(context.Background())
	_ = metal.Do(context.Background(), func() error { metal.ClearCache(); return nil })
	if e.group {
		a.refreshGroupStats()
	}
	p.mu.Lock()
	p.closing = slices.DeleteFunc(p.closing, func(o *poolEntry) bool { return o == e })
	p.notify()
	p.mu.Unlock()
}

// UnloadModel unloads the model name refers to and returns once its memory
// is freed; requests running on it finish first.
func (a *App) UnloadModel(ctx context.Context, name string) error {
	id := a.poolID(name)
	p := &a.pool
	p.mu.Lock()
	e, ok := p.models[id]
	if !ok || e.m == nil {
		p.mu.Unlock()
		return fmt.Errorf("%w: %s is not loaded", api.ErrModelNotFound, name)
	}
	a.unloadLocked(e)
	for slices.Contains(p.closing, e) {
		changed := p.waitChange()
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
	a.armIdle()
	p.mu.Unlock()
	return nil
}

// poolID is the library id name refers to, or name itself when it names
// no installed model (a loaded folder whose library entry went away).
func (a *App) poolID(name string) string {
	if lm, err := a.resolveModel(name); err == nil {
		return lm.ID
	}
	return name
}

// LoadPoolModel loads the installed model name refers to, as the UI's load
// button does (whether or not the settings load on demand).
func (a *App) LoadPoolModel(ctx context.Context, name string) error {
	_, err := a.model(ctx, name, true)
	return err
}

// PinModel pins (or unpins) the model name refers to: pool.pinned in the
// settings, so it survives restarts. Pinning does not load the model.
func (a *App) PinModel(name string, pin bool) error {
	id := name
	if pin {
		lm, err := a.resolveModel(name)
		if err != nil {
			return err
		}
		id = lm.ID
	} else {
		id = a.poolID(name)
	}
	_, err := a.UpdateSettings(func(s *store.Settings) error {
		s.Pool.Pinned = slices.DeleteFunc(s.Pool.Pinned, func(p string) bool { return p == id })
		if pin {
			s.Pool.Pinned = append(s.Pool.Pinned, id)
		}
		return nil
	})
	return err
}

// armIdle schedules the next idle unload from the settings'
// idle_unload_sec. Caller holds the pool's mu.
func (a *App) armIdle() {
	p := &a.pool
	if p.idle != nil {
		p.idle.Stop()
		p.idle = nil
	}
	s, err := a.db.Settings()
	if err != nil || s.IdleUnloadSec == 0 || p.shut {
		return
	}
	ttl := time.Duration(s.IdleUnloadSec) * time.Second
	var next time.Time
	for _, e := range p.models {
		if e.m != nil && e.busy == 0 && !slices.Contains(s.Pool.Pinned, e.id) {
			if due := e.lastUsed.Add(ttl); next.IsZero() || due.Before(next) {
				next = due
			}
		}
	}
	if !next.IsZero() {
		p.idle = time.AfterFunc(time.Until(next), func() {
			defer safe.Recover("idle unload")
			safe.Point("pool.idle")
			a.unloadIdle()
		})
	}
}

// unloadIdle unloads the models idle for idle_unload_sec.
func (a *App) unloadIdle() {
	s, err := a.db.Settings()
	p := &a.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil && s.IdleUnloadSec > 0 {
		cutoff := time.Now().Add(-time.Duration(s.IdleUnloadSec) * time.Second)
		for _, id := range sortedKeys(p.models) {
			e := p.models[id]
			if e.m != nil && e.busy == 0 && !slices.Contains(s.Pool.Pinned, id) && !e.lastUsed.After(cutoff) {
				a.unloadLocked(e)
			}
		}
	}
	a.armIdle()
}

// applyPoolSettings applies changed settings to the loaded models: idle
// models beyond the count limit or the budget unload (least recently used
// first), and the idle timer follows the new idle_unload_sec.
func (a *App) applyPoolSettings(s store.Settings) {
	budget := a.MemoryBudget(s).Bytes
	p := &a.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		used, closing, count := p.reserved(nil)
		if (s.Pool.MaxModels == 0 || count <= s.Pool.MaxModels) && (budget <= 0 || used-closing <= budget) {
			break
		}
		victim := p.lruIdle(nil, s.Pool.Pinned)
		if victim == nil {
			break
		}
		a.unloadLocked(victim)
	}
	a.armIdle()
}

// LoadedModels lists the ids of the loaded models, sorted.
func (a *App) LoadedModels() []string {
	a.pool.mu.Lock()
	defer a.pool.mu.Unlock()
	var ids []string
	for id, e := range a.pool.models {
		if e.m != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// PoolStatus reports the budget and every model in the pool.
func (a *App) PoolStatus(ctx context.Context) (api.PoolStatus, error) {
	s, err := a.db.Settings()
	if err != nil {
		return api.PoolStatus{}, err
	}
	budget := a.MemoryBudget(s)
	st := api.PoolStatus{BudgetBytes: budget.Bytes, BudgetSource: budget.Source, MaxModels: s.Pool.MaxModels,
		IdleUnloadSec: s.IdleUnloadSec, Pinned: append([]string{}, s.Pool.Pinned...), Models: []api.PoolModel{}}
	p := &a.pool
	p.mu.Lock()
	for _, id := range sortedKeys(p.models) {
		st.Models = append(st.Models, poolModel(p.models[id], "loaded", s))
	}
	for _, e := range p.closing {
		st.Models = append(st.Models, poolModel(e, "unloading", s))
	}
	st.ReservedBytes, _, _ = p.reserved(nil)
	p.mu.Unlock()
	st.MLX = a.mlxMemory(ctx)
	return st, nil
}

// poolModel describes e for the API. Caller holds the pool's mu.
func poolModel(e *poolEntry, state string, s store.Settings) api.PoolModel {
	pm := api.PoolModel{ID: e.id, State: state, Pinned: slices.Contains(s.Pool.Pinned, e.id), Requests: e.busy,
		WeightBytes: e.need.est.WeightBytes, KVBytes: e.need.est.KVBytes, ContextTokens: e.need.tokens,
		PrefixCacheBytes: e.need.prefix, EstimateBytes: e.need.total()}
	if e.m == nil {
		pm.State = "loading"
		return pm
	}
	pm.WeightBytes = e.m.Info().WeightBytes
	loaded, used := e.loadedAt, e.lastUsed
	pm.LoadedAt, pm.LastUsedAt = &loaded, &used
	if state == "loaded" && s.IdleUnloadSec > 0 && e.busy == 0 && !pm.Pinned {
		due := used.Add(time.Duration(s.IdleUnloadSec) * time.Second)
		pm.IdleUnloadAt = &due
	}
	return pm
}

// closeAll unloads every model and stops loading new ones.
func (p *pool) closeAll(ctx context.Context) {
	p.mu.Lock()
	p.shut = true
	if p.idle != nil {
		p.idle.Stop()
	}
	var open []*engine.Model
	for _, e := range p.models {
		if e.m != nil {
			open = append(open, e.m)
		}
	}
	p.models = nil
	p.mu.Unlock()
	for _, m := range open {
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
