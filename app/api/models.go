package api

import (
	"net/http"
	"strings"
)

// ModelList is the body of GET /v1/models, as OpenAI sends it.
type ModelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// Model is one entry of ModelList.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ownedBy is the organisation of a Hub repo id, or "local" for a folder.
func ownedBy(m LocalModel) string {
	if org, _, ok := strings.Cut(m.Repo, "/"); ok {
		return org
	}
	return "local"
}

// handleModels serves GET /v1/models: the installed models the engine can
// run (unsupported ones are on /api/models with the reason).
func (h *Handler) handleModels(w http.ResponseWriter, _ *http.Request) {
	list := ModelList{Object: "list", Data: []Model{}}
	for _, m := range h.backend.Models() {
		if !m.Supported {
			continue
		}
		created := m.AddedAt
		if created.IsZero() {
			created = m.ModifiedAt
		}
		list.Data = append(list.Data, Model{ID: m.ID, Object: "model", Created: created.Unix(), OwnedBy: ownedBy(m)})
	}
	writeJSON(w, http.StatusOK, list)
}
