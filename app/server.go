package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/lmx-app/lmx/app/api"
)

// drainTimeout bounds how long a stopped server waits for requests in flight.
const drainTimeout = 5 * time.Second

// server is one running HTTP listener.
type server struct {
	http   *http.Server
	ln     net.Listener
	cancel context.CancelFunc // ends the requests' contexts (SSE streams)
	url    string
}

// isLoopback reports whether host only reaches this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// baseURL is the URL local clients use for a listener on addr.
func baseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		// 0.0.0.0 / [::] serve every interface; loopback is the local URL.
		return "http://127.0.0.1:" + strconv.Itoa(portOf(addr))
	}
	return "http://" + addr.String()
}

// portOf returns addr's TCP port, or 0.
func portOf(addr net.Addr) int {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.Port
	}
	return 0
}

// StartServer starts the network listener with the current settings; it is a
// no-op when the server runs. A failure (port in use, …) is also shown in the
// status.
func (a *App) StartServer() error {
	err := a.startServer()
	a.recordInstance()
	a.Publish()
	return err
}

// startServer does StartServer's work without publishing.
func (a *App) startServer() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.server != nil {
		return nil
	}
	s := a.settings
	if !isLoopback(s.Host) && s.APIKeyHash == "" {
		a.serverErr = ErrKeyRequired.Error()
		return fmt.Errorf("start server on %s: %w", s.Host, ErrKeyRequired)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	if err != nil {
		a.serverErr = err.Error()
		return fmt.Errorf("start server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	a.server = &server{http: srv, ln: ln, cancel: cancel, url: baseURL(ln.Addr())}
	a.serverErr = ""
	go func() {
		// Serve always returns an error; after StopServer it is the closed
		// listener's, which is the expected end.
		_ = srv.Serve(ln)
	}()
	return nil
}

// StopServer closes the network listener at once and lets requests in flight
// finish in the background (so a stop requested over HTTP can still answer).
// The window keeps working through LocalHandler.
func (a *App) StopServer() error {
	srv := a.detachServer()
	if srv != nil {
		go drain(srv)
	}
	a.recordInstance()
	a.Publish()
	return nil
}

// detachServer closes the listener and forgets the server; it returns the
// server to drain, or nil when none ran.
func (a *App) detachServer() *server {
	a.mu.Lock()
	defer a.mu.Unlock()
	srv := a.server
	if srv == nil {
		return nil
	}
	a.server = nil
	_ = srv.ln.Close() // Serve returns; Shutdown in drain closes it again
	srv.cancel()
	return srv
}

// drain shuts srv down, waiting up to drainTimeout for requests in flight.
func drain(srv *server) {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.http.Shutdown(ctx); err != nil {
		_ = srv.http.Close()
	}
}

// Close stops the server and waits for requests in flight (bounded by
// drainTimeout), and stops downloads so the next start resumes them; used
// when the process exits. The caller closes the store afterwards.
func (a *App) Close() {
	if srv := a.detachServer(); srv != nil {
		drain(srv)
	}
	a.recordInstance()
	a.stopDemo()
	a.closeLibrary()
	a.pool.closeAll(context.Background())
}

// URL returns the server's base URL, or "" while it is stopped.
func (a *App) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.server == nil {
		return ""
	}
	return a.server.url
}

// ApplySettings switches to new server settings: the handler's security
// settings change at once, and a running server restarts when its address
// changed (or stops, when it listens beyond loopback and the key was removed).
// The old listener closes at once; its requests in flight (such as the one
// that changed the settings) finish in the background.
func (a *App) ApplySettings(s ServerSettings) error {
	a.handler.Store(a.newHandler(s))
	a.mu.Lock()
	old := a.settings
	a.settings = s
	restart := a.server != nil &&
		(old.Host != s.Host || old.Port != s.Port || (!isLoopback(s.Host) && s.APIKeyHash == ""))
	a.mu.Unlock()
	if !restart {
		a.Publish()
		return nil
	}
	if srv := a.detachServer(); srv != nil {
		go drain(srv)
	}
	return a.StartServer()
}

// Status returns a snapshot of the server, engine and memory.
func (a *App) Status(context.Context) api.Status {
	s := api.Status{Version: a.cfg.Version, DataDir: a.cfg.DataDir}
	a.mu.Lock()
	s.Server = a.serverStatus()
	s.Engine = api.EngineStatus{Available: a.engineErr == nil, Device: a.device}
	if a.engineErr != nil {
		s.Engine.Error = a.engineErr.Error()
	}
	a.mu.Unlock()
	a.modelsStatus(&s)
	s.Demo = a.demoStatus()
	if a.memory == nil {
		s.MemoryError = "memory statistics are not available in this build"
		return s
	}
	mem, err := a.memory()
	if err != nil {
		s.MemoryError = err.Error()
	} else {
		s.Memory = &mem
	}
	return s
}

// serverStatus describes the listener; a.mu must be held.
func (a *App) serverStatus() api.ServerStatus {
	st := api.ServerStatus{Host: a.settings.Host, Port: a.settings.Port, Error: a.serverErr}
	if a.server != nil {
		st.Running, st.URL, st.Port = true, a.server.url, portOf(a.server.ln.Addr())
	}
	return st
}
