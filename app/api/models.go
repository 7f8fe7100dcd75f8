package api

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
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
