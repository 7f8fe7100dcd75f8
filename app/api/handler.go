// Package api is LMX's HTTP surface: the OpenAI-compatible /v1 endpoints, the
// management API under /api that the UI uses, server-sent events, and the UI
// assets, behind the protective defaults (Host check, no wildcard CORS,
// optional API key, body size limit). It imports no GUI code, so it builds
// for every platform without cgo.
package api

import (
	"fmt"
	"io/fs"
	"net/http"
)

// DefaultMaxBodyBytes is the request body limit when Config leaves it zero.
const DefaultMaxBodyBytes = 32 << 20

// Config holds the security settings and assets of a Handler.
type Config struct {
	// AllowedHosts are Host names accepted besides loopback ones (for a
	// server reached by name on the LAN).
	AllowedHosts []string
	// AllowedOrigins may call the server cross-origin (besides AppOrigins).
	AllowedOrigins []string
	// APIKeyHash, when not empty, is the store.HashAPIKey of the key required
	// on /v1/ routes and on every route for clients on other machines.
	APIKeyHash string
	// MaxBodyBytes caps request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Assets is the built UI (frontend/dist); nil or without index.html
	// serves a page saying how to build it.
	Assets fs.FS
}

// Handler routes LMX's HTTP API. ServeHTTP is the handler for the network
// listener; Local serves in-process callers.
type Handler struct {
	backend Backend
	hub     *Hub
	public  http.Handler
	local   http.Handler
}

// New builds the handler for backend; hub feeds the /api/events stream.
func New(cfg Config, backend Backend, hub *Hub) *Handler {
	h := &Handler{backend: backend, hub: hub}
	mux := h.routes(cfg.Assets)
	limit := cfg.MaxBodyBytes
	if limit == 0 {
		limit = DefaultMaxBodyBytes
	}
	origins := append(append([]string{}, AppOrigins...), cfg.AllowedOrigins...)
	h.public = checkHost(cfg.AllowedHosts, checkOrigin(origins, checkKey(cfg.APIKeyHash, limitBody(limit, mux))))
	h.local = limitBody(limit, mux)
	return h
}

// ServeHTTP serves a request that came over the network listener, with every
// protective check.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.public.ServeHTTP(w, r)
}

// Local returns the handler for in-process requests (the app window's asset
// server): they never crossed a network, so Host, Origin and API-key checks
// do not apply; the body limit does.
func (h *Handler) Local() http.Handler {
	return h.local
}

// routes registers every endpoint.
func (h *Handler) routes(assets fs.FS) *http.ServeMux {
	mux := http.NewServeMux()
	route(mux, "GET", "/api/status", h.handleStatus)
	route(mux, "GET", "/api/events", h.handleEvents)
	route(mux, "POST", "/api/server/start", h.handleServerAction(h.backend.StartServer))
	route(mux, "POST", "/api/server/stop", h.handleServerAction(h.backend.StopServer))
	route(mux, "POST", "/api/window/show", h.handleShowWindow)
	route(mux, "GET", "/api/settings", h.handleGetSettings)
	mux.HandleFunc("PUT /api/settings", h.handlePutSettings)
	route(mux, "GET", "/api/models", h.handleLocalModels)
	// No 405 fallbacks for these two: a method-less "/api/models/pull" would
	// conflict with "DELETE /api/models/{repo...}" in the mux.
	mux.HandleFunc("POST /api/models/pull", h.handlePull)
	mux.HandleFunc("POST /api/models/demo", h.handleInstallDemo)
	mux.HandleFunc("DELETE /api/models/{repo...}", h.handleDeleteModel)
	route(mux, "GET", "/api/downloads", h.handleDownloads)
	route(mux, "POST", "/api/downloads/{id}/cancel", h.handleCancel)
	route(mux, "GET", "/api/hub/search", h.handleSearch)
	route(mux, "GET", "/v1/models", h.handleModels)
	route(mux, "GET", "/v1/models/{id...}", h.handleModel)
	route(mux, "POST", "/v1/chat/completions", generationHandler("chat.completions", h.handleChat))
	route(mux, "POST", "/v1/completions", generationHandler("completions", h.handleCompletions))
	route(mux, "POST", "/v1/embeddings", generationHandler("embeddings", h.handleEmbeddings))
	route(mux, "POST", "/v1/messages", generationHandler("messages", anthropicRecover(h.handleMessages)))
	route(mux, "POST", "/v1/messages/count_tokens", generationHandler("messages.count_tokens", anthropicRecover(h.handleCountTokens)))
	route(mux, "POST", "/v1/responses", generationHandler("responses", h.handleCreateResponse))
	route(mux, "GET", "/v1/responses/{id}", generationHandler("responses.get", h.handleGetResponse))
	mux.HandleFunc("DELETE /v1/responses/{id}", generationHandler("responses.delete", h.handleDeleteResponse))
	mux.HandleFunc("/api/", notFound)
	mux.HandleFunc("/v1/", notFound)
	mux.Handle("/", onlyGet(assetHandler(assets)))
	return mux
}

// route registers h for method and path, and a JSON 405 for other methods on
// the same path (the mux's own 405 is plain text).
func route(mux *http.ServeMux, method, path string, h http.HandlerFunc) {
	mux.HandleFunc(method+" "+path, h)
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", method)
		writeErrorFor(w, r, fmt.Errorf("%w: %s %s (use %s)", ErrMethodNotAllowed, r.Method, path, method))
	})
}

// onlyGet lets GET and HEAD through to h and answers other methods with 405.
func onlyGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, fmt.Errorf("%w: %s %s", ErrMethodNotAllowed, r.Method, r.URL.Path))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// notFound answers unknown /api and /v1 routes with the error JSON.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeErrorFor(w, r, fmt.Errorf("%w: %s %s", ErrNotFound, r.Method, r.URL.Path))
}
