package api

import (
	"context"

	"github.com/lmx-app/lmx/engine"

	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub"
)

// Backend is what the handlers need from the application. Methods are called
// from HTTP handler goroutines concurrently.
type Backend interface {
	ServerControl
	SettingsBackend
	LibraryBackend
	ModelBackend
	ResponseStore
}

// ModelBackend gives the generation endpoints their models.
type ModelBackend interface {
	// Model returns the loaded model a request names (a library id or an
	// alias), loading an installed one on demand. Errors wrap
	// ErrModelNotFound (not installed, or not runnable, with the reason) or
	// ErrEngineUnavailable (no MLX runtime, with the reason). The model stays
	// loaded while a request uses it.
	Model(ctx context.Context, name string) (*engine.Model, error)
	// LoadedModels lists the ids of the loaded models.
	LoadedModels() []string
}

// ServerControl is the application's lifecycle as the API sees it.
type ServerControl interface {
	// Status returns a fresh snapshot.
	Status(ctx context.Context) Status
	// StartServer starts the public listener (a no-op when it runs).
	StartServer() error
	// StopServer closes the public listener; in-process callers (the app
	// window) keep working.
	StopServer() error
	// ShowWindow brings the app window to the front; a process without a
	// window returns an error wrapping ErrUnavailable.
	ShowWindow() error
}

// SettingsBackend keeps the user's settings.
type SettingsBackend interface {
	// Settings returns the stored settings.
	Settings() (store.Settings, error)
	// UpdateSettings applies edit to the stored settings atomically,
	// validates and saves the result and applies it to the running app.
	UpdateSettings(edit func(*store.Settings) error) (store.Settings, error)
}

// LibraryBackend is the model library and its downloads.
type LibraryBackend interface {
	// Models returns the installed models as last scanned (cheap).
	Models() []LocalModel
	// ScanModels rescans the library and returns the result.
	ScanModels() ([]LocalModel, error)
	// DeleteModel deletes an installed Hub model (every snapshot) by repo id.
	DeleteModel(repo string) error
	// Pull starts downloading repo at revision ("" for main) and returns the
	// download id.
	Pull(ctx context.Context, repo, revision string) (string, error)
	// Downloads lists the recorded downloads with live progress.
	Downloads() ([]hub.Progress, error)
	// CancelDownload stops a download and deletes its partial files.
	CancelDownload(id string) error
	// PauseDownload stops a running download, keeping its partial files.
	PauseDownload(id string) error
	// ResumeDownload continues a paused, failed or interrupted download.
	ResumeDownload(id string) error
	// HubModel describes a Hub repo before download: size, quantization
	// and whether it fits the memory budget.
	HubModel(ctx context.Context, repo string) (HubModel, error)
	// ImportGGUF imports a GGUF file of this machine into the library;
	// an unreadable, non-GGUF or truncated file is a *ParamError.
	ImportGGUF(ctx context.Context, path string) (LocalModel, error)
	// SearchHub searches the Hub.
	SearchHub(ctx context.Context, q hub.SearchQuery) ([]hub.ModelSummary, error)
	// InstallDemoModel starts installing and loading the demo model in the
	// background and returns its status; while one install runs, it returns
	// that one's. Progress and errors arrive with the status.
	InstallDemoModel() (DemoStatus, error)
}
