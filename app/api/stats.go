package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// StatsBackend reports what the serving engine is doing; the app implements
// it (a backend without it answers 409).
type StatsBackend interface {
	// ServingStats returns a snapshot of every loaded model's scheduler,
	// MLX's memory counters and the host's memory.
	ServingStats(ctx context.Context) (StatsBody, error)
}

// StatsBody is the body of GET /api/stats and of each event of
// GET /api/stats/stream.
type StatsBody struct {
	Time   time.Time    `json:"time"`
	Models []ModelStats `json:"models"`
	// MLX is nil without the MLX runtime.
	MLX *MLXMemory `json:"mlx,omitempty"`
	// Memory is the host's memory; nil when it cannot be read.
	Memory *Memory `json:"memory,omitempty"`
	// Process identifies the server process and counts its goroutines, so a
	// soak run can watch them (and RSS, open files through /proc/PID).
	Process *ProcessStats `json:"process,omitempty"`
}

// ProcessStats is the serving process: its id and live goroutines.
type ProcessStats struct {
	PID        int `json:"pid"`
	Goroutines int `json:"goroutines"`
}

// ModelStats are one loaded model's scheduler counters.
type ModelStats struct {
	ID string `json:"id"`
	// Requests submitted; Failed ended with an engine error.
	Requests int64 `json:"requests"`
	Failed   int64 `json:"failed"`
	// Active are prefilling or decoding; Queued wait for a place
	// (serving.max_sequences).
	Active int `json:"active"`
	Queued int `json:"queued"`
	// PrefillTokens ran through the model (cached ones not counted);
	// GeneratedTokens went to requests.
	PrefillTokens   int64 `json:"prefill_tokens"`
	GeneratedTokens int64 `json:"generated_tokens"`
	// DecodeSteps were run, carrying BatchedRows sequences in all
	// (mean_batch is their ratio).
	DecodeSteps int64   `json:"decode_steps"`
	BatchedRows int64   `json:"batched_rows"`
	MeanBatch   float64 `json:"mean_batch"`
	// The most recently finished request: prompt tokens per second of
	// prefill, tokens per second of decode, time to first token.
	PrefillTPS float64 `json:"prefill_tokens_per_second"`
	DecodeTPS  float64 `json:"decode_tokens_per_second"`
	TTFTMillis float64 `json:"time_to_first_token_ms"`
	// Speculative decoding: tokens a draft model proposed and the model
	// accepted, and their ratio (0 without a draft).
	DraftProposed  int64            `json:"draft_proposed"`
	DraftAccepted  int64            `json:"draft_accepted"`
	AcceptanceRate float64          `json:"draft_acceptance_rate"`
	PrefixCache    PrefixCacheStats `json:"prefix_cache"`
}

// PrefixCacheStats describe a model's prefix cache.
type PrefixCacheStats struct {
	Entries    int   `json:"entries"`
	Bytes      int64 `json:"bytes"`
	LimitBytes int64 `json:"limit_bytes"`
	Hits       int64 `json:"hits"`
	Misses     int64 `json:"misses"`
	HitTokens  int64 `json:"hit_tokens"`
	// Evictions made room within the limit; Pressured gave memory back
	// under MLX memory pressure; Refused could not be kept (RefusedReason
	// says why the last one was not).
	Evictions     int64  `json:"evictions"`
	Pressured     int64  `json:"pressured"`
	Refused       int64  `json:"refused"`
	RefusedReason string `json:"refused_reason,omitempty"`
	// Disk is nil unless cache.persist_to_disk is on.
	Disk *DiskCacheStats `json:"disk,omitempty"`
}

// DiskCacheStats describe the prefix cache's files.
type DiskCacheStats struct {
	Files        int   `json:"files"`
	Bytes        int64 `json:"bytes"`
	LimitBytes   int64 `json:"limit_bytes"`
	Writes       int64 `json:"writes"`
	WrittenBytes int64 `json:"written_bytes"`
	Loads        int64 `json:"loads"`
	Rejected     int64 `json:"rejected"`
}

// statsInterval bounds the SSE stream's interval_ms.
const (
	statsIntervalDefault = time.Second
	statsIntervalMin     = 100 * time.Millisecond
	statsIntervalMax     = time.Minute
)

func (h *Handler) statsBackend(w http.ResponseWriter) (StatsBackend, bool) {
	sb, ok := h.backend.(StatsBackend)
	if !ok {
		writeError(w, fmt.Errorf("%w: this process has no serving engine", ErrUnavailable))
	}
	return sb, ok
}

// handleStats serves GET /api/stats.
func (h *Handler) handleStats(w http.ResponseWriter, r *http.Request) {
	sb, ok := h.statsBackend(w)
	if !ok {
		return
	}
	body, err := sb.ServingStats(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// handleStatsStream serves GET /api/stats/stream: a text/event-stream with
// a "stats" event every interval_ms (default 1000, 100 to 60000) until the
// client leaves.
func (h *Handler) handleStatsStream(w http.ResponseWriter, r *http.Request) {
	interval := statsIntervalDefault
	if v := r.URL.Query().Get("interval_ms"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || time.Duration(ms)*time.Millisecond < statsIntervalMin || time.Duration(ms)*time.Millisecond > statsIntervalMax {
			writeError(w, paramErr("interval_ms", "interval_ms %q must be a whole number from 100 to 60000", v))
			return
		}
		interval = time.Duration(ms) * time.Millisecond
	}
	sb, ok := h.statsBackend(w)
	if !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errors.New("streaming is not supported by this connection"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		body, err := sb.ServingStats(r.Context())
		if err != nil {
			return
		}
		b, err := json.Marshal(body)
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: stats\ndata: %s\n\n", b); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// CacheBackend empties the prefix caches; the app implements it (a backend
// without it answers 409).
type CacheBackend interface {
	// ClearPrefixCaches empties every loaded model's prefix cache, in memory
	// and on disk, and deletes the cache files of models not loaded.
	ClearPrefixCaches(ctx context.Context) (CacheClearBody, error)
}

// CacheClearBody is the answer of POST /api/cache/clear: what was emptied.
type CacheClearBody struct {
	// Models are the loaded models whose caches were emptied.
	Models []string `json:"models"`
	// MemoryBytes and MemoryEntries were held in memory before.
	MemoryBytes   int64 `json:"memory_bytes"`
	MemoryEntries int   `json:"memory_entries"`
	// DiskFiles and DiskBytes were deleted from the data folder.
	DiskFiles int   `json:"disk_files"`
	DiskBytes int64 `json:"disk_bytes"`
}

// handleClearCache serves POST /api/cache/clear.
func (h *Handler) handleClearCache(w http.ResponseWriter, r *http.Request) {
	cb, ok := h.backend.(CacheBackend)
	if !ok {
		writeError(w, fmt.Errorf("%w: this process has no serving engine", ErrUnavailable))
		return
	}
	body, err := cb.ClearPrefixCaches(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}
