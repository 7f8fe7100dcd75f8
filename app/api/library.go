package api

import (
	"context"
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

// HubModel is the body of GET /api/hub/model: what a download of a Hub
// repo would bring and whether it would fit.
type HubModel struct {
	Repo         string               `json:"repo"`
	Commit       string               `json:"commit"`
	SizeBytes    int64                `json:"size_bytes"` // every file of the repo
	Quantization library.Quantization `json:"quantization"`
	// ContextTokens is the context the estimate reserves KV cache for.
	ContextTokens int                `json:"context_tokens"`
	Fit           *library.FitResult `json:"fit,omitempty"`
	// FitError says why there is no estimate (a config.json without sizes).
	FitError string `json:"fit_error,omitempty"`
}

// ImportRequest is the body of POST /api/models/import.
type ImportRequest struct {
	// Path is the absolute path of a .gguf file on the server's machine.
	Path string `json:"path"`
}

// ImportResponse answers POST /api/models/import: the imported model.
type ImportResponse struct {
	Model LocalModel `json:"model"`
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
	h.downloadAction(w, r, h.backend.CancelDownload)
}

// handlePause serves POST /api/downloads/{id}/pause: the download stops,
// keeping its partial files.
func (h *Handler) handlePause(w http.ResponseWriter, r *http.Request) {
	h.downloadAction(w, r, h.backend.PauseDownload)
}

// handleResume serves POST /api/downloads/{id}/resume: a paused, failed or
// interrupted download continues where it stopped.
func (h *Handler) handleResume(w http.ResponseWriter, r *http.Request) {
	h.downloadAction(w, r, h.backend.ResumeDownload)
}

// downloadAction validates the {id} of the path, runs act on it and
// answers with every download.
func (h *Handler) downloadAction(w http.ResponseWriter, r *http.Request, act func(id string) error) {
	id := r.PathValue("id")
	repo, rev, ok := strings.Cut(id, "@")
	if !ok || library.ValidateRepoID(repo) != nil || library.ValidateRevision(rev) != nil {
		writeError(w, &ParamError{Param: "id", Err: fmt.Errorf("download id %q is not repo@revision: %w", id, library.ErrUnsafePath)})
		return
	}
	if err := act(id); err != nil {
		writeError(w, err)
		return
	}
	h.writeDownloads(w)
}

// handleHubModel serves GET /api/hub/model?repo=ORG/NAME: size,
// quantization and "will it fit" of a Hub model before downloading it.
func (h *Handler) handleHubModel(w http.ResponseWriter, r *http.Request) {
	repo := r.URL.Query().Get("repo")
	if err := library.ValidateRepoID(repo); err != nil {
		writeError(w, &ParamError{Param: "repo", Err: err})
		return
	}
	hm, err := h.backend.HubModel(r.Context(), repo)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, hm)
}

// inProcessKey marks the context of requests that came through Local.
type inProcessKey struct{}

// inProcess marks requests to next as made in process (the app window's
// asset server, which gives them a made-up remote address).
func inProcess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), inProcessKey{}, true)))
	})
}

// isInProcess reports whether r came through Local.
func isInProcess(r *http.Request) bool {
	v, _ := r.Context().Value(inProcessKey{}).(bool)
	return v
}

// handleImport serves POST /api/models/import: it imports a GGUF file of
// this machine into the library (converting it to an MLX folder once) and
// answers 201 with the model. Only this machine may name a path: the app
// window (in process) or a client on loopback.
func (h *Handler) handleImport(w http.ResponseWriter, r *http.Request) {
	if !isInProcess(r) && !fromLoopback(r) {
		writeError(w, ErrNotLoopback)
		return
	}
	var req ImportRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	m, err := h.backend.ImportGGUF(r.Context(), req.Path)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, ImportResponse{Model: m})
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
