package api

import "net/http"

// handleShowWindow serves POST /api/window/show: a second launch of the app
// asks the running one to show its window. Only processes on this machine
// may ask (the Host check applies as everywhere).
func (h *Handler) handleShowWindow(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) {
		writeError(w, ErrNotLoopback)
		return
	}
	if err := h.backend.ShowWindow(); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
