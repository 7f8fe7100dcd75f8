package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// ModelList is the body of GET /v1/models, as OpenAI sends it.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// Model is one entry of ModelList and the body of GET /v1/models/{id}.
// Loaded and Aliases are LMX's additions: whether the model is in memory,
// and the short names requests may use instead of the id.
type Model struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	OwnedBy string   `json:"owned_by"`
	Loaded  bool     `json:"loaded"`
	Aliases []string `json:"aliases,omitempty"`
}

// errNoEmbeddings answers /v1/embeddings: no embedding model runs yet.
var errNoEmbeddings = errors.New("model does not support embeddings")

// ownedBy is the organisation of a Hub repo id, or "local" for a folder.
func ownedBy(m LocalModel) string {
	if org, _, ok := strings.Cut(m.Repo, "/"); ok {
		return org
	}
	return "local"
}

// aliasOf is a model's short name, the last element of its id; requests may
// use it when no other installed model shares it (the app resolves names
// the same way).
func aliasOf(id string) string {
	return path.Base(strings.ReplaceAll(id, "\\", "/"))
}

// runnableModels lists the installed models the engine can run, as /v1
// shows them: loaded state and unique aliases filled in.
func (h *Handler) runnableModels() []Model {
	var list []Model
	count := map[string]int{}
	loaded := h.backend.LoadedModels()
	for _, m := range h.backend.Models() {
		if !m.Supported {
			continue
		}
		created := m.AddedAt
		if created.IsZero() {
			created = m.ModifiedAt
		}
		list = append(list, Model{ID: m.ID, Object: "model", Created: created.Unix(), OwnedBy: ownedBy(m),
			Loaded: slices.Contains(loaded, m.ID)})
		count[aliasOf(m.ID)]++
	}
	for i, m := range list {
		if a := aliasOf(m.ID); a != m.ID && count[a] == 1 {
			list[i].Aliases = []string{a}
		}
	}
	return list
}

// findModel returns the runnable model that name (an id or an alias) names.
// It compares names only; it never touches the filesystem.
func (h *Handler) findModel(name string) (Model, error) {
	for _, m := range h.runnableModels() {
		if m.ID == name || slices.Contains(m.Aliases, name) {
			return m, nil
		}
	}
	return Model{}, fmt.Errorf("%w: %q is not installed (GET /v1/models lists the installed models)", ErrModelNotFound, name)
}

// handleModels serves GET /v1/models: the installed models the engine can
// run (unsupported ones are on /api/models with the reason).
func (h *Handler) handleModels(w http.ResponseWriter, _ *http.Request) {
	list := ModelList{Object: "list", Data: h.runnableModels()}
	if list.Data == nil {
		list.Data = []Model{}
	}
	writeJSON(w, http.StatusOK, list)
}

// handleModel serves GET /v1/models/{id...}; ids of Hub models hold a slash.
func (h *Handler) handleModel(w http.ResponseWriter, r *http.Request) {
	m, err := h.findModel(r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// handleEmbeddings serves POST /v1/embeddings: an unknown model is 404, any
// other is refused until embedding models are supported.
func (h *Handler) handleEmbeddings(w http.ResponseWriter, r *http.Request, l *requestLog) {
	var req EmbeddingRequest
	if err := decodeRequest(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	l.setModel(req.Model)
	if strings.TrimSpace(req.Model) == "" {
		writeError(w, paramErr("model", "model is required"))
		return
	}
	if _, err := h.findModel(req.Model); err != nil {
		writeError(w, err)
		return
	}
	writeError(w, &ParamError{Param: "model", Err: fmt.Errorf("%s: %w", req.Model, errNoEmbeddings)})
}

// PoolBackend is the model pool as the management API sees it (the app
// implements it beside Backend).
type PoolBackend interface {
	// PoolStatus reports the memory budget and the models in the pool.
	PoolStatus(ctx context.Context) (PoolStatus, error)
	// LoadPoolModel loads an installed model (by id or alias); errors wrap
	// ErrModelNotFound, ErrEngineUnavailable or, when it does not fit the
	// memory budget, ErrUnavailable with both numbers.
	LoadPoolModel(ctx context.Context, name string) error
	// UnloadModel unloads a loaded model once its requests end; a model
	// that is not loaded is ErrModelNotFound.
	UnloadModel(ctx context.Context, name string) error
	// PinModel pins an installed model (it is never unloaded to make room
	// or for being idle) or unpins one; pins are stored in the settings.
	PinModel(name string, pin bool) error
}

// PoolBudget is the memory the loaded models' estimates may fill and where
// the figure comes from: "memory.limit_bytes", "recommended_working_set"
// (Metal), "system_memory" (75% of it) or "unknown" (Bytes 0: no budget
// is enforced).
type PoolBudget struct {
	Bytes  int64  `json:"bytes"`
	Source string `json:"source"`
}

// PoolStatus is the body of GET /api/pool and of the pool actions.
type PoolStatus struct {
	BudgetBytes  int64  `json:"budget_bytes"`
	BudgetSource string `json:"budget_source"`
	// ReservedBytes is the sum of the models' estimates.
	ReservedBytes int64       `json:"reserved_bytes"`
	MaxModels     int         `json:"max_models"`
	IdleUnloadSec int         `json:"idle_unload_sec"`
	Pinned        []string    `json:"pinned"`
	Models        []PoolModel `json:"models"`
	// MLX is MLX's allocator state; nil without the runtime.
	MLX *MLXMemory `json:"mlx,omitempty"`
}

// PoolModel is one model of the pool with its memory.
type PoolModel struct {
	ID string `json:"id"`
	// State is "loading", "loaded" or "unloading".
	State  string `json:"state"`
	Pinned bool   `json:"pinned"`
	// Requests are the requests running on the model.
	Requests int `json:"requests"`
	// WeightBytes is the loaded weights (the estimate while loading).
	WeightBytes int64 `json:"weight_bytes"`
	// KVBytes is the KV-cache estimate for ContextTokens.
	KVBytes          int64      `json:"kv_bytes"`
	ContextTokens    int        `json:"context_tokens"`
	PrefixCacheBytes int64      `json:"prefix_cache_bytes"`
	EstimateBytes    int64      `json:"estimate_bytes"`
	LoadedAt         *time.Time `json:"loaded_at,omitempty"`
	LastUsedAt       *time.Time `json:"last_used_at,omitempty"`
	// IdleUnloadAt is when the model unloads if no request comes first.
	IdleUnloadAt *time.Time `json:"idle_unload_at,omitempty"`
}

// MLXMemory is MLX's allocator state in bytes.
type MLXMemory struct {
	Active int64 `json:"active"`
	Peak   int64 `json:"peak"`
	Cache  int64 `json:"cache"`
	Limit  int64 `json:"limit"`
}

// PoolRequest is the body of the pool actions: the model to act on.
type PoolRequest struct {
	Model string `json:"model"`
}

// poolBackend returns the backend's pool, or ErrUnavailable.
func (h *Handler) poolBackend() (PoolBackend, error) {
	if pb, ok := h.backend.(PoolBackend); ok {
		return pb, nil
	}
	return nil, fmt.Errorf("%w: this server has no model pool", ErrUnavailable)
}

// handlePoolStatus serves GET /api/pool.
func (h *Handler) handlePoolStatus(w http.ResponseWriter, r *http.Request) {
	h.writePool(w, r, nil)
}

// handlePoolAction serves POST /api/pool/{load,unload,pin,unpin}: act on
// the model the body names, then answer with the pool.
func (h *Handler) handlePoolAction(act func(ctx context.Context, pb PoolBackend, model string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req PoolRequest
		if err := decodeBody(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if strings.TrimSpace(req.Model) == "" {
			writeError(w, paramErr("model", "model is required"))
			return
		}
		h.writePool(w, r, func(pb PoolBackend) error { return act(r.Context(), pb, req.Model) })
	}
}

// writePool runs act (when not nil) and answers with the pool's status.
func (h *Handler) writePool(w http.ResponseWriter, r *http.Request, act func(PoolBackend) error) {
	pb, err := h.poolBackend()
	if err == nil && act != nil {
		err = act(pb)
	}
	var st PoolStatus
	if err == nil {
		st, err = pb.PoolStatus(r.Context())
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// Pool actions for handlePoolAction.
var (
	poolLoad   = func(ctx context.Context, pb PoolBackend, m string) error { return pb.LoadPoolModel(ctx, m) }
	poolUnload = func(ctx context.Context, pb PoolBackend, m string) error { return pb.UnloadModel(ctx, m) }
	poolPin    = func(_ context.Context, pb PoolBackend, m string) error { return pb.PinModel(m, true) }
	poolUnpin  = func(_ context.Context, pb PoolBackend, m string) error { return pb.PinModel(m, false) }
)
