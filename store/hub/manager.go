package hub

import (
	"context"
	"fmt"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/library"
)

// Options tune a Manager; zero fields take the defaults in withDefaults.
type Options struct {
	Concurrency   int                    // files downloaded at once, across all downloads
	MaxRetries    int                    // retries per file after a retryable failure
	Backoff       time.Duration          // first retry delay; doubles up to MaxBackoff
	MaxBackoff    time.Duration          // longest retry delay
	StallTimeout  time.Duration          // no bytes for this long: drop the connection and retry
	ProgressEvery time.Duration          // how often OnProgress is called while bytes flow
	OnProgress    func(Progress)         // called from download goroutines; must return quickly
	Allow         func(name string) bool // which repo files to fetch; default MLXFiles
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxRetries <= 0 {
		o.MaxRetries = 6
	}
	def(&o.Backoff, time.Second)
	def(&o.MaxBackoff, 30*time.Second)
	def(&o.StallTimeout, 30*time.Second)
	def(&o.ProgressEvery, 250*time.Millisecond)
	if o.OnProgress == nil {
		o.OnProgress = func(Progress) {}
	}
	if o.Allow == nil {
		o.Allow = MLXFiles
	}
	return o
}

// mlxPatterns are the files mlx-lm's snapshot_download asks for.
var mlxPatterns = []string{"*.json", "model*.safetensors", "*.py", "tokenizer.model", "*.tiktoken", "tiktoken.model", "*.txt", "*.jsonl", "*.jinja"}

// MLXFiles selects the files mlx-lm downloads (configs, weights, tokenizer,
// templates), skipping READMEs, images and other formats' weights.
func MLXFiles(name string) bool {
	for _, p := range mlxPatterns {
		if ok, _ := path.Match(p, path.Base(name)); ok {
			return true
		}
	}
	return false
}

// Reasons a running download's context is canceled.
var (
	errPause  = fmt.Errorf("paused: %w", ErrCanceled)
	errCancel = fmt.Errorf("canceled: %w", ErrCanceled)
	errClose  = fmt.Errorf("shutting down: %w", ErrCanceled)
)

// Manager runs downloads into a cache and records their state in the store
// so they survive a restart. Its methods are safe for concurrent use.
type Manager struct {
	client *Client
	cache  library.Cache
	db     *store.DB
	opts   Options
	sem    chan struct{}

	mu    sync.Mutex
	jobs  map[string]*job
	blobs map[string]*sync.Mutex // one writer per blob: files with equal content share one
}

// job is a running download.
type job struct {
	id     string
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	err    error // final error, set before done closes
	total  int64
	bytes  atomic.Int64
	files  atomic.Int32 // files finished

	mu   sync.Mutex
	last Progress
}

// NewManager returns a manager writing into cache and recording in db.
func NewManager(client *Client, cache library.Cache, db *store.DB, opts Options) *Manager {
	opts = opts.withDefaults()
	return &Manager{client: client, cache: cache, db: db, opts: opts,
		sem: make(chan struct{}, opts.Concurrency), jobs: map[string]*job{}, blobs: map[string]*sync.Mutex{}}
}

// DownloadID names the download of repo at revision.
func DownloadID(repo, revision string) string { return repo + "@" + revision }

// Start resolves repo at revision (default "main") on the Hub, records the
// download and runs it in the background; it returns the download id. Hub
// errors (gated, not found, unsafe names) are returned at once.
func (m *Manager) Start(ctx context.Context, repo, revision string) (string, error) {
	if revision == "" {
		revision = "main"
	}
	id := DownloadID(repo, revision)
	if m.active(id) != nil {
		return id, nil
	}
	info, err := m.client.ModelInfo(ctx, repo, revision)
	if err != nil {
		return "", fmt.Errorf("start download: %w", err)
	}
	rec := store.Download{ID: id, Repo: repo, Revision: revision, Commit: info.Commit, State: store.DownloadQueued}
	for _, f := range info.Files {
		if m.opts.Allow(f.Name) {
			rec.Files = append(rec.Files, store.DownloadFile{Name: f.Name, Size: f.Size, SHA256: f.SHA256, BlobID: f.BlobID})
		}
	}
	if err := m.db.PutDownload(rec); err != nil {
		return "", err
	}
	m.launch(rec)
	return id, nil
}

// Pull downloads repo at revision and waits for it; it returns the
// installed model: the snapshot of the commit just downloaded, not
// whichever snapshot of repo the cache would pick.
func (m *Manager) Pull(ctx context.Context, repo, revision string) (library.Model, error) {
	id, err := m.Start(ctx, repo, revision)
	if err != nil {
		return library.Model{}, err
	}
	if err := m.Wait(ctx, id); err != nil {
		return library.Model{}, err
	}
	rec, err := m.db.Download(id)
	if err != nil {
		return library.Model{}, err
	}
	return m.installed(rec), nil
}

// Wait blocks until download id ends and returns its error (nil when done;
// wrapping ErrCanceled when paused or canceled). Canceling ctx stops waiting,
// not the download.
func (m *Manager) Wait(ctx context.Context, id string) error {
	if j := m.active(id); j != nil {
		select {
		case <-j.done:
			return j.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	rec, err := m.db.Download(id)
	if err != nil {
		return err
	}
	switch rec.State {
	case store.DownloadDone:
		return nil
	case store.DownloadFailed:
		return fmt.Errorf("download %s failed: %s", id, rec.Error)
	}
	return fmt.Errorf("download %s is %s: %w", id, rec.State, ErrCanceled)
}

// Pause stops download id, keeping partial files for Resume.
func (m *Manager) Pause(id string) error {
	j := m.active(id)
	if j == nil {
		return fmt.Errorf("pause %s: not running: %w", id, store.ErrNotFound)
	}
	j.cancel(errPause)
	<-j.done
	return nil
}

// Resume restarts a paused, failed or interrupted download from its record
// (same commit, same files), continuing partial files with Range requests.
func (m *Manager) Resume(id string) error {
	if m.active(id) != nil {
		return nil
	}
	rec, err := m.db.Download(id)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if rec.State == store.DownloadDone {
		return nil
	}
	rec, err = m.db.UpdateDownload(id, func(d *store.Download) { d.State, d.Error = store.DownloadQueued, "" })
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	m.launch(rec)
	return nil
}

// ResumePending restarts every download a previous run left queued or
// running; call it once at start-up. It returns their ids.
func (m *Manager) ResumePending() ([]string, error) {
	recs, err := m.db.Downloads()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, rec := range recs {
		if rec.Pending() && m.active(rec.ID) == nil {
			m.launch(rec)
			ids = append(ids, rec.ID)
		}
	}
	return ids, nil
}

// Cancel stops download id, deletes its partial files (and its snapshot if
// it was never completed) and forgets it.
func (m *Manager) Cancel(id string) error {
	if j := m.active(id); j != nil {
		j.cancel(errCancel)
		<-j.done
	}
	rec, err := m.db.Download(id)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	m.removePartials(rec)
	return m.db.DeleteDownload(id)
}

// Close stops every running download without changing its recorded state,
// so ResumePending continues it on the next start.
func (m *Manager) Close() {
	m.mu.Lock()
	jobs := make([]*job, 0, len(m.jobs))
	for _, j := range m.jobs {
		jobs = append(jobs, j)
	}
	m.mu.Unlock()
	for _, j := range jobs {
		j.cancel(errClose)
		<-j.done
	}
}

// lockBlob serialises work on one blob of repo and returns the unlock.
func (m *Manager) lockBlob(repo, id string) func() {
	m.mu.Lock()
	l := m.blobs[repo+"/"+id]
	if l == nil {
		l = &sync.Mutex{}
		m.blobs[repo+"/"+id] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// active returns the running job id, or nil.
func (m *Manager) active(id string) *job {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.jobs[id]
}

// progress calls OnProgress; a panic in it is logged with its stack and
// does not stop the download that reported.
func (m *Manager) progress(p Progress) {
	_ = safe.Call("download progress callback", func() error {
		m.opts.OnProgress(p)
		return nil
	})
}
