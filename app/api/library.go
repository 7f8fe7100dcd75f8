package api

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lmx-app/lmx/store/hub"
	"github.com/lmx-app/lmx/store/library"
)

// DefaultSearchAuthor is the Hub organisation searched when the request
// names none: mlx-community publishes MLX conversions of most models.
const DefaultSearchAuthor = "mlx-community"

// searchLimit is how many Hub results one search returns.
const searchLimit = 30

// LocalModel is an installed model: what the library scan found, plus the
// registry's bookkeeping.
type LocalModel struct {
	library.Model
	AddedAt    time.Time `json:"added_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	Pinned     bool      `json:"pinned"`
}

// ModelsBody is the body of GET /api/models and DELETE /api/models/{repo}.
type ModelsBody struct {
	Models []LocalModel `json:"models"`
}

// PullRequest is the body of POST /api/models/pull.
type PullRequest struct {
	Repo     string `json:"repo"`
	Revision string `json:"revision,omitempty"` // default "main"
}

// PullResponse answers POST /api/models/pull: the download to follow.
type PullResponse struct {
	ID string `json:"id"`
}

// DownloadsBody is the body of GET /api/downloads and of a cancel.
type DownloadsBody struct {
	Downloads []hub.Progress `json:"downloads"`
}

// SearchBody is the body of GET /api/hub/search.
type SearchBody struct {
	Models []hub.ModelSummary `json:"models"`
}

// handleLocalModels serves GET /api/models, rescanning the library.
func (h *Handler) handleLocalModels(w http.ResponseWriter, _ *http.Request) {
	models, err := h.backend.ScanModels()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ModelsBody{Models: orEmpty(models)})
}

// handlePull serves POST /api/models/pull: it starts the download and
// answers 202 with its id; progress arrives on /api/downloads and the
// event stream.
func (h *Handler) handlePull(w http.ResponseWriter, r *http.Request) {
	var req PullRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if err := library.ValidateRepoID(req.Repo); err != nil {
		writeError(w, &ParamError{Param: "repo", Err: err})
		return
	}
	if req.Revision != "" {
		if err := library.ValidateRevision(req.Revision); err != nil {
			writeError(w, &ParamError{Param: "revision", Err: err})
			return
		}
	}
	id, err := h.backend.Pull(r.Context(), req.Repo, req.Revision)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, PullResponse{ID: id})
}

// handleInstallDemo serves POST /api/models/demo: it starts installing the
// demo model (or finds the install running) and answers 202 with its status.
func (h *Handler) handleInstallDemo(w http.ResponseWriter, _ *http.Request) {
	s, err := h.backend.InstallDemoModel()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, s)
}

// handleDownloads serves GET /api/downloads.
func (h *Handler) handleDownloads(w http.ResponseWriter, _ *http.Request) {
	h.writeDownloads(w)
}

// handleCancel serves POST /api/downloads/{id}/cancel; the id is
// "org/name@revision", path-escaped ("/" as %2F).
func (h *Handler) handleCancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	repo, rev, ok := strings.Cut(id, "@")
	if !ok || library.ValidateRepoID(repo) != nil || library.ValidateRevision(rev) != nil {
		writeError(w, &ParamError{Param: "id", Err: fmt.Errorf("download id %q is not repo@revision: %w", id, library.ErrUnsafePath)})
		return
	}
	if err := h.backend.CancelDownload(id); err != nil {
		writeError(w, err)
		return
	}
	h.writeDownloads(w)
}

// writeDownloads answers with every recorded download.
func (h *Handler) writeDownloads(w http.ResponseWriter) {
	downloads, err := h.backend.Downloads()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, DownloadsBody{Downloads: orEmpty(downloads)})
}

// handleDeleteModel serves DELETE /api/models/{repo...}: it deletes a Hub
// model by repo id (org/name) and answers with the library after.
func (h *Handler) handleDeleteModel(w http.ResponseWriter, r *http.Request) {
	repo := r.PathValue("repo")
	if err := library.ValidateRepoID(repo); err != nil {
		writeError(w, &ParamError{Param: "repo", Err: err})
		return
	}
	if err := h.backend.DeleteModel(repo); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ModelsBody{Models: orEmpty(h.backend.Models())})
}

// handleSearch serves GET /api/hub/search?q=TEXT[&author=ORG], most
// downloaded first.
func (h *Handler) handleSearch(w http.ResponseWriter, r *http.Request) {
	q := hub.SearchQuery{Search: r.URL.Query().Get("q"), Author: r.URL.Query().Get("author"), Sort: "downloads", Limit: searchLimit}
	if q.Author == "" {
		q.Author = DefaultSearchAuthor
	}
	models, err := h.backend.SearchHub(r.Context(), q)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SearchBody{Models: orEmpty(models)})
}

// orEmpty returns s, or an empty slice for nil, so JSON lists are [] not null.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
