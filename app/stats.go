package app

import (
	"context"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/generate"
)

// ServingStats implements api.StatsBackend: every loaded model's scheduler
// counters, MLX's memory and the host's.
func (a *App) ServingStats(ctx context.Context) (api.StatsBody, error) {
	body := api.StatsBody{Time: time.Now(), Models: []api.ModelStats{}}
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
