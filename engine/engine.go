// Package engine is the facade the app uses to run models: load a model
// folder, generate from token ids, report model facts and MLX memory. All MLX
// work happens on the metal thread through metal.Do; the methods are safe to
// call from any goroutine.
package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/group"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// ErrClosed is returned by a model that has been closed (unloaded).
var ErrClosed = errors.New("model closed")

// Options are load-time settings: defaults for every request's KV cache.
type Options struct {
	// MaxKVSize bounds each sequence's cache (0: unbounded).
	MaxKVSize int
	// KVBits > 0 quantizes the KV cache (group size KVGroupSize, default 64).
	KVBits, KVGroupSize int
	// Serving configures the model's scheduler: batch limits and the prefix
	// cache.
	Serving generate.SchedulerOptions
	// Group, when set, splits the model across a distributed group whose
	// leader this process is (Name: the library name the followers find
	// their copy by; Split: how, empty to choose).
	Group *group.Leader
	Name  string
	Split arch.Split
}

// Info describes a loaded model.
type Info struct {
	Dir           string
	ModelType     string
	VocabSize     int
	NumLayers     int
	HiddenSize    int
	ContextLength int
	// Quantization is nil for unquantized weights.
	Quantization *model.QuantParams
	// EOSTokenIDs merges config.json, generation_config.json and the
	// tokenizer's eos_token: the one place a model's stop ids are gathered.
	EOSTokenIDs []int32
	// WeightBytes is the memory the weights occupy.
	WeightBytes int64
	// Generation holds generation_config.json's suggested sampling defaults.
	Generation model.GenerationConfig
}

// Model is a loaded model.
type Model struct {
	mu    sync.RWMutex
	m     arch.Model
	info  Info
	opts  Options
	text  text
	sched *generate.Scheduler
	draft *Model // loaded by LoadDraft, closed with the model
}

// Load reads and loads the model folder dir. A failed load frees everything
// it allocated.
func Load(ctx context.Context, dir string, opts Options) (*Model, error) {
	gen, err := model.ReadGenerationConfig(dir)
	if err != nil {
		return nil, err
	}
	txt, err := loadText(dir)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	var m arch.Model
	var info Info
	err = metal.Do(ctx, func() error {
		var cfg *model.Config
		if opts.Group != nil {
			m, cfg, err = opts.Group.Load(dir, opts.Name, opts.Split, opts.Serving)
		} else {
			m, cfg, err = arch.Load(dir)
		}
		if err == nil {
			info = newInfo(dir, cfg, gen, m)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", dir, err)
	}
	if txt.tok != nil {
		if eos, ok := txt.tok.EOS(); ok && int(eos) < info.VocabSize && !slices.Contains(info.EOSTokenIDs, eos) {
			info.EOSTokenIDs = append(info.EOSTokenIDs, eos)
		}
	}
	if opts.Group != nil {
		opts.Serving.Lockstep = opts.Group.Lockstep(dir)
	}
	sched := generate.NewScheduler(m, info.VocabSize, opts.Serving)
	return &Model{m: m, opts: opts, info: info, text: txt, sched: sched}, nil
}

// newInfo gathers the model facts. It reads array sizes, so it runs on the
// MLX thread.
func newInfo(dir string, cfg *model.Config, gen *model.GenerationConfig, m arch.Model) Info {
	text := cfg.Language()
	info := Info{Dir: dir, ModelType: cfg.ModelType, VocabSize: text.VocabSize, NumLayers: m.NumLayers(),
		HiddenSize: text.HiddenSize, ContextLength: text.MaxPositionEmbeddings, Generation: *gen}
	if cfg.Quantization != nil {
		q := cfg.Quantization.QuantParams
		info.Quantization = &q
	}
	for _, id := range model.MergeEOS(cfg.EOSTokenIDs, gen.EOSTokenIDs) {
		info.EOSTokenIDs = append(info.EOSTokenIDs, int32(id))
	}
	for _, a := range m.Arrays() {
		info.WeightBytes += int64(a.Nbytes())
	}
	return info
}

// Info returns the model's facts.
func (m *Model) Info() Info { return m.info }

// Request is a generation request; the model's EOS ids are added to StopIDs
// unless IgnoreEOS is set, and a zero Cache takes the load Options.
type Request struct {
	generate.Request
	IgnoreEOS bool
}

// Generate runs req through the model's scheduler, batched with the other
// requests, streaming tokens to fn (which may be nil) from the caller's
// goroutine.
func (m *Model) Generate(ctx context.Context, req Request, fn generate.Callback) (*generate.Result, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.m == nil {
		return nil, ErrClosed
	}
	r := req.Request
	if !req.IgnoreEOS {
		r.StopIDs = append(append([]int32{}, r.StopIDs...), m.info.EOSTokenIDs...)
	}
	if r.Cache.MaxKVSize == 0 && r.Cache.KVBits == 0 {
		r.Cache.MaxKVSize, r.Cache.KVBits, r.Cache.KVGroupSize = m.opts.MaxKVSize, m.opts.KVBits, m.opts.KVGroupSize
	}
	g := m.opts.Group
	if g == nil {
		return m.sched.Generate(ctx, r, fn)
	}
	if err := g.Lost(); err != nil {
		return nil, err
	}
	res, err := m.sched.Generate(ctx, r, fn)
	if err != nil && errors.Is(err, metal.ErrMLX) {
		// An MLX error in a group's step means a collective failed, or
		// one rank failed where the others did not: either way the ranks
		// are no longer in step, and the group must form again.
		err = g.Fail(err)
	}
	return res, err
}

// Stats returns the scheduler's counters.
func (m *Model) Stats() generate.Stats { return m.sched.Stats() }

// ClearPrefixCache drops the model's cached prefixes.
func (m *Model) ClearPrefixCache(ctx context.Context) error {
	return m.sched.ClearPrefixCache(ctx)
}

// Close frees the model's memory; later calls return ErrClosed.
func (m *Model) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		return nil
	}
	m.sched.Close()
	if m.draft != nil {
		if err := m.draft.Close(ctx); err != nil {
			return err
		}
		m.draft = nil
	}
	m.text.grammar.close()
	err := metal.Do(ctx, func() error {
		arch.FreeModel(m.m)
		if m.opts.Group != nil {
			// The followers free their parts; a group that is gone has
			// nothing left to free.
			_ = m.opts.Group.Unload(m.info.Dir)
		}
		// Hand the freed buffers back to the system, not only to MLX's
		// cache and the C heap.
		metal.ClearCache()
		metal.ReleaseHeap()
		return nil
	})
	if err == nil {
		m.m = nil
	}
	return err
}

// Memory is MLX's allocator state in bytes.
type Memory struct {
	Active, Peak, Cache, Limit int64
}

// MemoryStats reads MLX's memory counters.
func MemoryStats(ctx context.Context) (Memory, error) {
	var mem Memory
	err := metal.Do(ctx, func() error {
		mem = Memory{Active: metal.ActiveMemory(), Peak: metal.PeakMemory(), Cache: metal.CacheMemory(), Limit: metal.MemoryLimit()}
		return nil
	})
	return mem, err
}

// ErrDraftMismatch marks a draft model whose tokenizer is not the model's.
var ErrDraftMismatch = errors.New("draft model does not share the model's tokenizer")

// SetDraft makes d the draft model of speculative decoding for requests
// admitted from now on (nil: none); numDraft tokens are proposed per step
// (0: generate.DefaultNumDraft). d must share the tokenizer: the same
// vocabulary, token for token. The caller keeps d loaded while it is set.
func (m *Model) SetDraft(d *Model, numDraft int) error {
	if m.opts.Group != nil && d != nil {
		return fmt.Errorf("draft model: %w", generate.ErrGroupUnsupported)
	}
	if d == nil {
		m.sched.SetDraft(nil)
		return nil
	}
	if err := sameTokenizer(m, d); err != nil {
		return err
	}
	d.mu.RLock()
	dm := d.m
	d.mu.RUnlock()
	if dm == nil {
		return ErrClosed
	}
	m.sched.SetDraft(&generate.Draft{Model: dm, NumDraft: numDraft})
	return nil
}

// sameTokenizer checks that m and d map every token id to the same text.
func sameTokenizer(m, d *Model) error {
	if m.info.VocabSize != d.info.VocabSize {
		return fmt.Errorf("%w: vocabulary %d, draft %d", ErrDraftMismatch, m.info.VocabSize, d.info.VocabSize)
	}
	a, b := m.text.tok, d.text.tok
	if a == nil || b == nil {
		return nil // ids only: the vocabulary sizes are all there is to compare
	}
	if a.VocabSize() != b.VocabSize() {
		return fmt.Errorf("%w: tokenizer sizes %d and %d", ErrDraftMismatch, a.VocabSize(), b.VocabSize())
	}
	for id := range int32(a.VocabSize()) {
		if a.TokenText(id) != b.TokenText(id) {
			return fmt.Errorf("%w: token %d is %q, in the draft %q", ErrDraftMismatch, id, a.TokenText(id), b.TokenText(id))
		}
	}
	return nil
}

// LoadDraft loads the model folder dir as this model's draft for
// speculative decoding, owned by the model (closed with it); numDraft as in
// SetDraft. The draft uses the model's KV cache options and no prefix cache.
// A model takes one draft (the scheduler may run sequences on it until the
// model closes); call it once, before serving.
func (m *Model) LoadDraft(ctx context.Context, dir string, numDraft int) error {
	if m.opts.Group != nil {
		return fmt.Errorf("draft model: %w", generate.ErrGroupUnsupported)
	}
	opts := m.opts
	opts.Serving = generate.SchedulerOptions{MaxSequences: 1}
	d, err := Load(ctx, dir, opts)
	if err != nil {
		return fmt.Errorf("draft model: %w", err)
	}
	m.mu.RLock()
	loaded := m.draft != nil
	m.mu.RUnlock()
	if loaded {
		_ = d.Close(ctx)
		return errors.New("draft model: one is loaded already")
	}
	if err := m.SetDraft(d, numDraft); err != nil {
		_ = d.Close(ctx)
		return err
	}
	m.mu.Lock()
	m.draft = d
	m.mu.Unlock()
	return nil
}
