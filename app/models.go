package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub"
	"github.com/lmx-app/lmx/store/library"
)

// NoModelHint is shown (status, dashboard, `lmx serve`) while no supported
// model is installed. The demo model is the quickest start: no Hub account,
// 98 MB (store/demo).
const NoModelHint = "No model installed: install the demo model (SmolLM2-135M-Instruct, 98 MB) with the dashboard's Install the demo model button, " +
	"or from a checkout with `make run` or `lmx serve --model $(build/demo-model.sh)`; " +
	"or download one with `lmx pull mlx-community/Qwen3-0.6B-4bit` or under Models on the dashboard."

// models is the app's model library: the scan of the hub cache and extra
// folders, the Hub client and the download manager, all reopened when the
// library settings change.
type models struct {
	mu      sync.Mutex
	lib     library.Library
	client  *hub.Client
	mgr     *hub.Manager
	list    []api.LocalModel // last scan
	scanErr error
	// runFolders are model folders added for this run (lmx serve --model
	// DIR) and the data dir's imported GGUF models, scanned with the
	// settings' extra folders.
	runFolders []string
}

// openLibrary (re)opens the library for s: a running download manager is
// closed (its downloads resume in the new one), the library is scanned and
// interrupted downloads resume.
func (a *App) openLibrary(s store.LibrarySettings) error {
	dir := s.HubCache
	if dir == "" {
		var err error
		if dir, err = library.HubCacheDir(); err != nil {
			return err
		}
	}
	client := hub.NewClient(s.Endpoint, "")
	if client.Token == "" {
		client.Token = s.HubToken
	}
	lib := library.Library{Cache: library.Cache{Dir: dir, Architectures: arch.Supported()}}
	mgr := hub.NewManager(client, lib.Cache, a.db, hub.Options{OnProgress: a.onProgress})
	a.lib.mu.Lock()
	lib.Folders = append(slices.Clone(s.ExtraFolders), a.lib.runFolders...)
	old := a.lib.mgr
	a.lib.lib, a.lib.client, a.lib.mgr = lib, client, mgr
	a.lib.mu.Unlock()
	if old != nil {
		old.Close()
	}
	_, _ = a.ScanModels() // a failed scan is shown in the status
	if _, err := mgr.ResumePending(); err != nil {
		return fmt.Errorf("resume downloads: %w", err)
	}
	return nil
}

// manager returns the current download manager and Hub client.
func (a *App) manager() (*hub.Manager, *hub.Client) {
	a.lib.mu.Lock()
	defer a.lib.mu.Unlock()
	return a.lib.mgr, a.lib.client
}

// onProgress publishes download progress; a finished download is scanned
// into the library first. Called from download goroutines.
func (a *App) onProgress(p hub.Progress) {
	if p.State != store.DownloadDone {
		a.Publish()
		return
	}
	safe.Go("library scan after a download", func() {
		_, _ = a.ScanModels()
		a.Publish()
	})
}

// ScanModels rescans the library and merges the registry's bookkeeping.
func (a *App) ScanModels() ([]api.LocalModel, error) {
	a.lib.mu.Lock()
	lib := a.lib.lib
	a.lib.mu.Unlock()
	found, err := lib.Scan()
	var list []api.LocalModel
	if err == nil {
		list, err = a.withRegistry(found)
	}
	a.lib.mu.Lock()
	defer a.lib.mu.Unlock()
	a.lib.scanErr = err
	if err == nil {
		a.lib.list = list
	}
	return list, err
}

// withRegistry adds when each model was added and used, and whether it is
// pinned, from the registry.
func (a *App) withRegistry(found []library.Model) ([]api.LocalModel, error) {
	records, err := a.db.Models()
	if err != nil {
		return nil, err
	}
	byID := make(map[string]store.Model, len(records))
	for _, r := range records {
		byID[r.ID] = r
	}
	list := make([]api.LocalModel, len(found))
	for i, m := range found {
		r := byID[m.ID]
		list[i] = api.LocalModel{Model: m, AddedAt: r.AddedAt, LastUsedAt: r.LastUsedAt, Pinned: r.Pinned}
	}
	return list, nil
}

// Models returns the library as last scanned.
func (a *App) Models() []api.LocalModel {
	a.lib.mu.Lock()
	defer a.lib.mu.Unlock()
	return a.lib.list
}

// modelsStatus fills the status' library fields.
func (a *App) modelsStatus(s *api.Status) {
	a.lib.mu.Lock()
	s.Models = a.lib.list
	if a.lib.scanErr != nil {
		s.ModelsError = a.lib.scanErr.Error()
	}
	a.lib.mu.Unlock()
	if !hasSupported(s.Models) {
		s.ModelHint = NoModelHint
	}
	mgr, _ := a.manager()
	downloads, err := mgr.List()
	if err != nil && s.ModelsError == "" {
		s.ModelsError = err.Error()
	}
	s.Downloads = downloads
}

// hasSupported reports whether any model can run.
func hasSupported(list []api.LocalModel) bool {
	for _, m := range list {
		if m.Supported {
			return true
		}
	}
	return false
}

// DeleteModel deletes every snapshot of a Hub model and its registry record.
func (a *App) DeleteModel(repo string) error {
	a.lib.mu.Lock()
	cache := a.lib.lib.Cache
	a.lib.mu.Unlock()
	if _, err := cache.DeleteRepo(repo); err != nil {
		return err
	}
	if err := a.db.DeleteModel(repo); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, _ = a.ScanModels()
	a.Publish()
	return nil
}

// Pull starts downloading repo at revision ("" for main).
func (a *App) Pull(ctx context.Context, repo, revision string) (string, error) {
	mgr, _ := a.manager()
	id, err := mgr.Start(ctx, repo, revision)
	if err != nil {
		return "", err
	}
	a.Publish()
	return id, nil
}

// Downloads lists the recorded downloads with live progress.
func (a *App) Downloads() ([]hub.Progress, error) {
	mgr, _ := a.manager()
	return mgr.List()
}

// CancelDownload stops download id and deletes its partial files.
func (a *App) CancelDownload(id string) error {
	mgr, _ := a.manager()
	if err := mgr.Cancel(id); err != nil {
		return err
	}
	a.Publish()
	return nil
}

// SearchHub runs one search on the Hub.
func (a *App) SearchHub(ctx context.Context, q hub.SearchQuery) ([]hub.ModelSummary, error) {
	_, client := a.manager()
	page, err := client.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	return page.Models, nil
}

// closeLibrary stops running downloads; they resume at the next start.
func (a *App) closeLibrary() {
	if mgr, _ := a.manager(); mgr != nil {
		mgr.Close()
	}
}
