package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// keepAlive is how often an idle SSE stream sends a comment, so proxies and
// clients do not time the connection out.
const keepAlive = 15 * time.Second

// Hub fans status snapshots out to SSE clients. Each subscriber holds at most
// one pending snapshot: a slow client skips intermediate states and always
// receives the latest. Safe for concurrent use.
type Hub struct {
	mu   sync.Mutex
	subs map[chan Status]struct{}
}

// NewHub returns a Hub without subscribers.
func NewHub() *Hub {
	return &Hub{subs: make(map[chan Status]struct{})}
}

// Publish sends s to every subscriber without blocking.
func (h *Hub) Publish(s Status) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case <-ch: // drop the stale snapshot
		default:
		}
		ch <- s
	}
}

// Subscribers returns the number of connected subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// subscribe registers a subscriber; the returned func unregisters it.
func (h *Hub) subscribe() (<-chan Status, func()) {
	ch := make(chan Status, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// handleEvents serves GET /api/events: a text/event-stream that starts with the
// current status and then sends each published one as an "status" event.
func (h *Handler) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ch, unsubscribe := h.hub.subscribe()
	defer unsubscribe()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if writeEvent(w, rc, h.backend.Status(r.Context())) != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case s := <-ch:
			err = writeEvent(w, rc, s)
		case <-tick.C:
			_, err = fmt.Fprint(w, ": keep-alive\n\n")
			if err == nil {
				err = rc.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// writeEvent writes one SSE "status" event and flushes it.
func writeEvent(w http.ResponseWriter, rc *http.ResponseController, s Status) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", data); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	return rc.Flush()
}
