// Package app is LMX's application shell: it owns the HTTP server's
// lifecycle, the MLX engine's availability, the settings that apply to the
// server, and the status that the window, the browser UI and the tray show.
package app

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/store"
)

// ErrKeyRequired is returned by StartServer when the server would listen
// beyond loopback without an API key.
var ErrKeyRequired = errors.New("an API key is required to listen beyond loopback")

// EngineLoader loads the MLX runtime (metal.Load in production); its error
// says which paths were searched and how to build the library.
type EngineLoader func() error

// DeviceInfo reports the MLX device once the runtime is loaded.
type DeviceInfo func() (map[string]any, error)

// MemoryReader reads the host's memory (metal.SystemMemory in production).
type MemoryReader func() (api.Memory, error)

// Engine is the MLX runtime as the app sees it.
type Engine struct {
	Load   EngineLoader
	Device DeviceInfo
}

// ServerSettings are the settings that shape the HTTP server: the stored
// ones (store.ServerSettings) with this run's Overrides applied.
type ServerSettings struct {
	Host         string
	Port         int    // 0 picks a free port
	APIKeyHash   string // store.HashAPIKey of the required key; "" none
	CORSOrigins  []string
	AllowedHosts []string
	MaxBodyBytes int64 // 0: api.DefaultMaxBodyBytes
}

// Config is what the app starts with.
type Config struct {
	Version string
	DataDir string
	// Overrides are the command line's values for this run only.
	Overrides Overrides
	// Assets is the built UI served at / (frontend/dist).
	Assets fs.FS
	// Timeouts bound slow clients of the network listener; zero fields
	// take DefaultTimeouts.
	Timeouts Timeouts
	// Group, when set, makes this process the leader of a group of
	// machines that run models split across them.
	Group *GroupConfig
}

// App is the running application. Its methods are safe for concurrent use.
type App struct {
	cfg     Config
	db      *store.DB
	engine  Engine
	memory  MemoryReader
	hub     *api.Hub
	handler atomic.Pointer[api.Handler]
	lib     models
	pool    pool
	demo    demoInstall

	mu         sync.Mutex
	over       Overrides
	settings   ServerSettings
	server     *server // nil while stopped
	serverErr  string
	engineErr  error
	device     map[string]any
	observers  []func(api.Status)
	showWindow func() // nil without a window
	// reset is the damaged store set aside before this run, shown once.
	reset *store.Reset
	// cluster is the group of machines this process leads (nil: none).
	cluster   *cluster
	groupOnce sync.Once
}

// New returns an App that is not serving yet, configured by the settings in
// db (which the caller opened and closes after Close); call LoadEngine and
// StartServer. Downloads a previous run left unfinished resume.
func New(cfg Config, db *store.DB, engine Engine, memory MemoryReader) (*App, error) {
	stored, err := db.Settings()
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, db: db, engine: engine, memory: memory, hub: api.NewHub(), over: cfg.Overrides}
	if a.reset, err = db.TakeReset(); err != nil {
		return nil, err
	}
	if cfg.Group != nil {
		a.cluster = &cluster{cfg: *cfg.Group, state: groupForming}
	}
	a.settings = a.effective(stored.Server)
	a.engineErr = errors.New("engine not loaded yet")
	a.handler.Store(a.newHandler(a.settings))
	if dir := a.ggufDir(); dir != "" {
		a.lib.runFolders = []string{dir}
	}
	if err := a.openLibrary(stored.Library); err != nil {
		return nil, err
	}
	return a, nil
}

// newHandler builds the API handler for settings s.
func (a *App) newHandler(s ServerSettings) *api.Handler {
	return api.New(api.Config{
		AllowedHosts:   s.AllowedHosts,
		AllowedOrigins: s.CORSOrigins,
		APIKeyHash:     s.APIKeyHash,
		MaxBodyBytes:   s.MaxBodyBytes,
		Assets:         a.cfg.Assets,
	}, a, a.hub)
}

// Handler returns the handler for the network listener; it follows settings
// changes.
func (a *App) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.handler.Load().ServeHTTP(w, r)
	})
}

// LocalHandler returns the handler for in-process requests (the window's
// asset server); it keeps working while the network listener is stopped.
func (a *App) LocalHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.handler.Load().Local().ServeHTTP(w, r)
	})
}

// LoadEngine loads the MLX runtime and records whether it is available; a
// failure leaves the app running with the engine reported unavailable.
func (a *App) LoadEngine() error {
	err := a.engine.Load()
	var device map[string]any
	if err == nil && a.engine.Device != nil {
		var derr error
		if device, derr = a.engine.Device(); derr != nil {
			// The runtime works; only its description failed.
			device = map[string]any{"error": derr.Error()}
		}
	}
	a.mu.Lock()
	a.engineErr, a.device = err, device
	a.mu.Unlock()
	if err == nil {
		a.groupOnce.Do(a.startGroup)
	}
	a.Publish()
	return err
}

// OnStatus registers fn to receive every published status (the tray, the
// window's events). fn must not block.
func (a *App) OnStatus(fn func(api.Status)) {
	a.mu.Lock()
	a.observers = append(a.observers, fn)
	a.mu.Unlock()
}

// Publish sends the current status to SSE clients and observers.
func (a *App) Publish() {
	s := a.Status(context.Background())
	a.hub.Publish(s)
	a.mu.Lock()
	observers := append([]func(api.Status){}, a.observers...)
	a.mu.Unlock()
	for _, fn := range observers {
		fn(s)
	}
}

// PublishEvery publishes the status every interval until ctx ends, so the
// memory figures on the Dashboard stay live.
func (a *App) PublishEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.Publish()
		}
	}
}
