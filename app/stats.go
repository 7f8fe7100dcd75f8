package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/metal"
)

// ServingStats implements api.StatsBackend: every loaded model's scheduler
// counters, MLX's memory and the host's.
func (a *App) ServingStats(ctx context.Context) (api.StatsBody, error) {
	body := api.StatsBody{Time: time.Now(), Models: []api.ModelStats{},
		Process: &api.ProcessStats{PID: os.Getpid(), Goroutines: runtime.NumGoroutine()}}
	p := &a.pool
	p.mu.Lock()
	type loaded struct {
		id string
		m  *engine.Model
	}
	var models []loaded
	for _, id := range sortedKeys(p.models) {
		if m := p.models[id].m; m != nil {
			models = append(models, loaded{id, m})
		}
	}
	p.mu.Unlock()
	for _, l := range models {
		body.Models = append(body.Models, modelStats(l.id, l.m.Stats()))
	}
	body.MLX = a.mlxMemory(ctx)
	if a.memory != nil {
		if mem, err := a.memory(); err == nil {
			body.Memory = &mem
		}
	}
	return body, nil
}

// mlxMemory reads MLX's allocator counters; nil without the runtime.
func (a *App) mlxMemory(ctx context.Context) *api.MLXMemory {
	if a.engineError() != nil {
		return nil
	}
	mem, err := engine.MemoryStats(ctx)
	if err != nil {
		return nil
	}
	return &api.MLXMemory{Active: mem.Active, Peak: mem.Peak, Cache: mem.Cache, Limit: mem.Limit}
}

// modelStats turns a scheduler's counters into the API's.
func modelStats(id string, st generate.Stats) api.ModelStats {
	ms := api.ModelStats{ID: id, Requests: st.Requests, Failed: st.Failed, Active: st.Active, Queued: st.Queued,
		PrefillTokens: st.PrefillTokens, GeneratedTokens: st.GeneratedTokens, DecodeSteps: st.DecodeSteps,
		BatchedRows: st.BatchedRows, PrefillTPS: st.LastPrefillTPS, DecodeTPS: st.LastDecodeTPS,
		TTFTMillis: float64(st.LastTTFT) / float64(time.Millisecond), DraftProposed: st.DraftProposed,
		DraftAccepted: st.DraftAccepted}
	if st.DecodeSteps > 0 {
		ms.MeanBatch = float64(st.BatchedRows) / float64(st.DecodeSteps)
	}
	if st.DraftProposed > 0 {
		ms.AcceptanceRate = float64(st.DraftAccepted) / float64(st.DraftProposed)
	}
	pc := st.Prefix
	ms.PrefixCache = api.PrefixCacheStats{Entries: pc.Entries, Bytes: pc.Bytes, LimitBytes: pc.Limit, Hits: pc.Hits,
		Misses: pc.Misses, HitTokens: pc.HitTokens, Evictions: pc.Evictions, Pressured: pc.Pressured,
		Refused: pc.Refused, RefusedReason: pc.RefusedReason}
	if d := pc.Disk; d.Limit > 0 {
		ms.PrefixCache.Disk = &api.DiskCacheStats{Files: d.Files, Bytes: d.Bytes, LimitBytes: d.Limit, Writes: d.Writes,
			WrittenBytes: d.WrittenBytes, Loads: d.Loads, Rejected: d.Rejected}
	}
	return ms
}

// ClearPrefixCaches implements api.CacheBackend: every loaded model's prefix
// cache is emptied in memory and its files deleted, then the files of
// models not loaded (under the data folder's prefix-cache/) go too.
func (a *App) ClearPrefixCaches(ctx context.Context) (api.CacheClearBody, error) {
	body := api.CacheClearBody{Models: []string{}}
	type loaded struct {
		id   string
		m    *engine.Model
		disk *generate.DiskCache
	}
	var models []loaded
	p := &a.pool
	p.mu.Lock()
	for _, id := range sortedKeys(p.models) {
		if e := p.models[id]; e.m != nil {
			models = append(models, loaded{id, e.m, e.disk})
		}
	}
	p.mu.Unlock()
	for _, l := range models {
		st := l.m.Stats().Prefix
		body.MemoryBytes += st.Bytes
		body.MemoryEntries += st.Entries
		if l.disk != nil {
			err := metal.Do(ctx, func() error {
				files, bytes := l.disk.Clear()
				body.DiskFiles += files
				body.DiskBytes += bytes
				return nil
			})
			if err != nil {
				return body, fmt.Errorf("clear the prefix cache files of %s: %w", l.id, err)
			}
		}
		if err := l.m.ClearPrefixCache(ctx); err != nil {
			return body, fmt.Errorf("clear the prefix cache of %s: %w", l.id, err)
		}
		body.Models = append(body.Models, l.id)
	}
	if a.cfg.DataDir != "" {
		// Files of models not loaded now (or kept before persistence was
		// turned off); write-in-progress files (".tmp-…") are left alone.
		paths, _ := filepath.Glob(filepath.Join(a.cfg.DataDir, "prefix-cache", "*", "*.safetensors"))
		for _, path := range paths {
			info, err := os.Lstat(path)
			if err != nil || !info.Mode().IsRegular() || strings.HasPrefix(filepath.Base(path), ".") {
				continue
			}
			if os.Remove(path) == nil {
				body.DiskFiles++
				body.DiskBytes += info.Size()
			}
		}
	}
	return body, nil
}
