// Package api is LMX's HTTP surface: the OpenAI-compatible /v1 endpoints, the
// management API under /api that the UI uses, server-sent events, and the UI
// assets, behind the protective defaults (Host check, no wildcard CORS,
// optional API key, body size limit). It imports no GUI code, so it builds
// for every platform without cgo.
package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sync"

	"gopkg.in/yaml.v3"
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
	keyHash string // cfg.APIKeyHash: PUT /api/settings needs the key (settings.go)
	public  http.Handler
	local   http.Handler
}

// New builds the handler for backend; hub feeds the /api/events stream.
func New(cfg Config, backend Backend, hub *Hub) *Handler {
	h := &Handler{backend: backend, hub: hub, keyHash: cfg.APIKeyHash}
	mux := h.routes(cfg.Assets)
	limit := cfg.MaxBodyBytes
	if limit == 0 {
		limit = DefaultMaxBodyBytes
	}
	origins := append(append([]string{}, AppOrigins...), cfg.AllowedOrigins...)
	h.public = recoverPanics(checkHost(cfg.AllowedHosts, checkOrigin(origins, checkKey(cfg.APIKeyHash, limitBody(limit, mux)))))
	h.local = recoverPanics(inProcess(limitBody(limit, mux)))
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

// endpoint is one row of the route table: a method and path pattern and
// its handler.
type endpoint struct {
	method, path string
	handler      http.HandlerFunc
	fallback     fallback
}

// fallback says whether an endpoint's path answers other methods with the
// JSON 405 (see route).
type fallback bool

const (
	// with405 registers the JSON 405 for other methods on the path.
	with405 fallback = true
	// without405 leaves other methods to the mux: the path already has
	// a fallback (from another method's row), or a method-less pattern
	// would conflict with a wildcard route.
	without405 fallback = false
)

// endpoints is the route table of every /api and /v1 endpoint; the /api
// rows are described in openapi.yaml, and a test keeps the two in step.
func (h *Handler) endpoints() []endpoint {
	return []endpoint{
		{"GET", "/api/status", h.handleStatus, with405},
		{"GET", "/api/events", h.handleEvents, with405},
		{"GET", "/api/openapi.json", handleOpenAPI, with405},
		{"POST", "/api/server/start", h.handleServerAction(h.backend.StartServer), with405},
		{"POST", "/api/server/stop", h.handleServerAction(h.backend.StopServer), with405},
		{"POST", "/api/window/show", h.handleShowWindow, with405},
		{"GET", "/api/settings", h.handleGetSettings, with405},
		{"PUT", "/api/settings", h.handlePutSettings, without405},
		{"GET", "/api/models", h.handleLocalModels, with405},
		// A method-less "/api/models/pull" would conflict with "DELETE
		// /api/models/{repo...}" in the mux.
		{"POST", "/api/models/pull", h.handlePull, without405},
		{"POST", "/api/models/demo", h.handleInstallDemo, without405},
		{"POST", "/api/models/import", h.handleImport, without405},
		{"DELETE", "/api/models/{repo...}", h.handleDeleteModel, without405},
		{"GET", "/api/pool", h.handlePoolStatus, with405},
		{"POST", "/api/pool/load", h.handlePoolAction(poolLoad), with405},
		{"POST", "/api/pool/unload", h.handlePoolAction(poolUnload), with405},
		{"POST", "/api/pool/pin", h.handlePoolAction(poolPin), with405},
		{"POST", "/api/pool/unpin", h.handlePoolAction(poolUnpin), with405},
		{"GET", "/api/stats", h.handleStats, with405},
		{"GET", "/api/stats/stream", h.handleStatsStream, with405},
		{"GET", "/api/requests", h.handleRequests, with405},
		{"POST", "/api/cache/clear", h.handleClearCache, with405},
		{"GET", "/api/downloads", h.handleDownloads, with405},
		{"POST", "/api/downloads/{id}/cancel", h.handleCancel, with405},
		{"POST", "/api/downloads/{id}/pause", h.handlePause, with405},
		{"POST", "/api/downloads/{id}/resume", h.handleResume, with405},
		{"GET", "/api/hub/search", h.handleSearch, with405},
		{"GET", "/api/hub/model", h.handleHubModel, with405},
		{"GET", "/api/chats", h.handleListChats, without405},
		{"POST", "/api/chats", h.handleCreateChat, without405},
		{"GET", "/api/chats/{id}", h.handleGetChat, without405},
		{"PATCH", "/api/chats/{id}", h.handlePatchChat, without405},
		{"DELETE", "/api/chats/{id}", h.handleDeleteChat, without405},
		{"GET", "/v1/models", h.handleModels, with405},
		{"GET", "/v1/models/{id...}", h.handleModel, with405},
		{"POST", "/v1/chat/completions", generationHandler("chat.completions", h.handleChat), with405},
		{"POST", "/v1/completions", generationHandler("completions", h.handleCompletions), with405},
		{"POST", "/v1/embeddings", generationHandler("embeddings", h.handleEmbeddings), with405},
		{"POST", "/v1/messages", generationHandler("messages", anthropicRecover(h.handleMessages)), with405},
		{"POST", "/v1/messages/count_tokens", generationHandler("messages.count_tokens", anthropicRecover(h.handleCountTokens)), with405},
		{"POST", "/v1/responses", generationHandler("responses", h.handleCreateResponse), with405},
		{"GET", "/v1/responses/{id}", generationHandler("responses.get", h.handleGetResponse), with405},
		{"DELETE", "/v1/responses/{id}", generationHandler("responses.delete", h.handleDeleteResponse), without405},
	}
}

// routes registers every endpoint of the table, then the error JSON for
// unknown /api and /v1 routes and the UI assets for everything else.
func (h *Handler) routes(assets fs.FS) *http.ServeMux {
	mux := http.NewServeMux()
	for _, e := range h.endpoints() {
		if e.fallback == with405 {
			route(mux, e.method, e.path, e.handler)
		} else {
			mux.HandleFunc(e.method+" "+e.path, e.handler)
		}
	}
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

// openAPIYAML is the management API's OpenAPI 3.1 document: every /api
// route of the table, its bodies and its errors.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON converts openAPIYAML to JSON once.
var openAPIJSON = sync.OnceValues(func() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode openapi.yaml as JSON: %w", err)
	}
	return js, nil
})

// OpenAPI returns the management API's OpenAPI 3.1 document as JSON, as
// GET /api/openapi.json serves it.
func OpenAPI() ([]byte, error) {
	return openAPIJSON()
}

// handleOpenAPI serves GET /api/openapi.json.
func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	doc, err := OpenAPI()
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(doc)
}
