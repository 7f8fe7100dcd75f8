package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lmx-app/lmx/app/api"
)

// drainTimeout bounds how long a stopped server waits for requests in flight.
const drainTimeout = 5 * time.Second

// Timeouts bound how long the listener waits on a slow or idle client. A
// zero field takes DefaultTimeouts' value. None of them bounds a response:
// a long SSE stream runs as long as it needs.
type Timeouts struct {
	// Header is the time to send the request line and headers (slowloris).
	Header time.Duration
	// Body is the time to send the whole request body, counted from the end
	// of the headers (a trickled body is cut off).
	Body time.Duration
	// Idle is how long a keep-alive connection waits for its next request.
	Idle time.Duration
}

// DefaultTimeouts are the listener's timeouts: enough for a 32 MB body
// (api.DefaultMaxBodyBytes) over a slow network, far too short to hold a
// connection open by trickling bytes.
var DefaultTimeouts = Timeouts{Header: 10 * time.Second, Body: 2 * time.Minute, Idle: 2 * time.Minute}

// withDefaults fills t's zero fields from DefaultTimeouts.
func (t Timeouts) withDefaults() Timeouts {
	if t.Header <= 0 {
		t.Header = DefaultTimeouts.Header
	}
	if t.Body <= 0 {
		t.Body = DefaultTimeouts.Body
	}
	if t.Idle <= 0 {
		t.Idle = DefaultTimeouts.Idle
	}
	return t
}

// maxHeaderBytes caps the request line and headers.
const maxHeaderBytes = 1 << 20

// newHTTPServer is the network listener's server for h: header and idle
// timeouts from the server itself, and a per-request body deadline
// (bodyDeadline) instead of http.Server.ReadTimeout, whose connection
// deadline would also cancel a long streamed response once it passed.
// Bodies are capped in size by the api handler (Config.MaxBodyBytes).
func newHTTPServer(h http.Handler, t Timeouts, base context.Context) *http.Server {
	t = t.withDefaults()
	return &http.Server{
		Handler:           bodyDeadline(t.Body, h),
		ReadHeaderTimeout: t.Header,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}

// bodyDeadline gives a request with a body d to send it: the connection's
// read deadline is set when the handler starts. A body still arriving at
// the deadline fails its read with os.ErrDeadlineExceeded (the handler
// answers 408) and the connection is closed. Once the body has been read to
// its end the deadline is cleared (net/http also clears it as it starts
// watching the connection for the client leaving), so it never fires
// during a response: a long SSE stream is not cut. (http.Server.ReadTimeout
// would not do: its deadline covers the whole connection.) Until the body's
// end is read the server does not read the connection, so a deadline that
// passes while a handler streams after decoding its body has no effect.
func bodyDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(d)); err != nil {
			next.ServeHTTP(w, r) // a writer without deadlines (not the listener's)
			return
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, done: sync.OnceFunc(func() { _ = rc.SetReadDeadline(time.Time{}) })}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody calls done once the body has been read to its end.
type deadlineBody struct {
	io.ReadCloser
	done func()
}

// Read reads from the body; at its end the deadline is cleared.
func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.done()
	}
	return n, err
}

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
	srv := newHTTPServer(a.Handler(), a.cfg.Timeouts, ctx)
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
	// Idle keep-alive connections close now and busy ones after their
	// response, so no client keeps talking to an address that was given up
	// (Shutdown in drain does the same, but later, on another goroutine).
	srv.http.SetKeepAlivesEnabled(false)
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
	s.Group = a.groupStatus()
	s.Notices = a.notices()
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

// notices are the one-time messages of this run: a damaged database that
// store.Open (in this process or an earlier CLI command) set aside and
// replaced, shown for this run.
func (a *App) notices() []api.Notice {
	r := a.reset
	if r == nil {
		return nil
	}
	return []api.Notice{{Kind: "store_reset", Message: r.Message(), Time: r.Time, Path: r.Kept}}
}
