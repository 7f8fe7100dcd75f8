package hub

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/library"
)

// launch registers a job for rec and runs it in the background, unless one
// already runs for rec.ID (two Starts of one model raced): a second job would
// outlive a Cancel of the first.
func (m *Manager) launch(rec store.Download) {
	ctx, cancel := context.WithCancelCause(context.Background())
	j := &job{id: rec.ID, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	for _, f := range rec.Files {
		j.total += f.Size
		switch has := m.cache.HasBlob(rec.Repo, f.BlobID); {
		case has && f.Done:
			j.bytes.Add(f.Size)
			j.files.Add(1)
		case has: // fetchFile only links it
			j.bytes.Add(f.Size)
		default:
			j.bytes.Add(min(f.Size, fileSize(m.cache.IncompletePath(rec.Repo, f.BlobID))))
		}
	}
	// Progress reports it queued until run records it running, never as
	// an empty Progress.
	j.last = j.snapshot(rec, store.DownloadQueued, "")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.jobs[rec.ID] != nil {
		cancel(nil)
		return
	}
	m.jobs[rec.ID] = j
	go m.run(j, rec)
}

// run downloads every file of rec, installs the snapshot and records the
// outcome.
func (m *Manager) run(j *job, rec store.Download) {
	defer close(j.done)
	defer func() {
		m.mu.Lock()
		delete(m.jobs, j.id)
		m.mu.Unlock()
	}()
	// A panic (a bug, a malformed answer the checks missed) fails this
	// download, logged with its stack, instead of ending the process.
	defer func() {
		if v := recover(); v != nil {
			j.err = safe.Panicked("download "+rec.Repo, v)
			m.db.UpdateDownload(rec.ID, func(d *store.Download) { d.State, d.Error = store.DownloadFailed, j.err.Error() })
		}
	}()
	m.setState(j, rec, store.DownloadRunning, nil)
	stop := m.report(j, rec)
	err := safe.Call("download "+rec.Repo, func() error {
		safe.Point("hub.download")
		if err := m.fetchAll(j, rec); err != nil {
			return err
		}
		return m.finish(rec)
	})
	stop()
	j.err = err
	m.setState(j, rec, finalState(j.ctx, err), err)
}

// finalState maps how a run ended to the state to record.
func finalState(ctx context.Context, err error) store.DownloadState {
	switch cause := context.Cause(ctx); {
	case err == nil:
		return store.DownloadDone
	case errors.Is(cause, errPause):
		return store.DownloadPaused
	case errors.Is(cause, errCancel):
		return store.DownloadCanceled
	case errors.Is(cause, errClose):
		return store.DownloadRunning // resumed by the next ResumePending
	}
	return store.DownloadFailed
}

// setState records state (and err) and reports it.
func (m *Manager) setState(j *job, rec store.Download, state store.DownloadState, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	m.db.UpdateDownload(rec.ID, func(d *store.Download) { d.State, d.Error = state, msg })
	p := j.snapshot(rec, state, msg)
	j.mu.Lock()
	j.last = p
	j.mu.Unlock()
	m.progress(p)
}

// fetchAll downloads the files not yet done, Concurrency at a time across
// the manager; the first failure stops the others.
func (m *Manager) fetchAll(j *job, rec store.Download) error {
	ctx, cancel := context.WithCancelCause(j.ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i, f := range rec.Files {
		if f.Done && m.cache.HasBlob(rec.Repo, f.BlobID) {
			continue
		}
		wg.Go(func() {
			err := safe.Call("download "+rec.Repo+" "+f.Name, func() error {
				if err := m.fetchSlot(ctx, j, rec, f); err != nil {
					return err
				}
				j.files.Add(1)
				m.db.UpdateDownload(rec.ID, func(d *store.Download) { d.Files[i].Done = true })
				return nil
			})
			if err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return context.Cause(j.ctx)
}

// fetchSlot waits for a concurrency slot, then fetches f.
func (m *Manager) fetchSlot(ctx context.Context, j *job, rec store.Download, f store.DownloadFile) error {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	defer func() { <-m.sem }()
	return m.fetchFile(ctx, j, rec, f)
}

// fetchFile downloads, verifies, installs and links one file, retrying
// retryable failures with exponential backoff.
func (m *Manager) fetchFile(ctx context.Context, j *job, rec store.Download, f store.DownloadFile) error {
	t := transfer{client: m.client, cache: m.cache, repo: rec.Repo, commit: rec.Commit, stall: m.opts.StallTimeout,
		file: File{Name: f.Name, Size: f.Size, BlobID: f.BlobID, SHA256: f.SHA256}, progress: func(n int64) { j.bytes.Add(n) }}
	unlock := m.lockBlob(rec.Repo, f.BlobID)
	defer unlock()
	if !m.cache.HasBlob(rec.Repo, f.BlobID) {
		if err := m.retry(ctx, t); err != nil {
			return fmt.Errorf("download %s: %w", f.Name, err)
		}
		if err := m.cache.InstallBlob(rec.Repo, f.BlobID); err != nil {
			return err
		}
	}
	return m.cache.LinkSnapshot(rec.Repo, rec.Commit, f.Name, f.BlobID)
}

// retry runs fetchOnce until the file is complete and verified.
func (m *Manager) retry(ctx context.Context, t transfer) error {
	delay := m.opts.Backoff
	for attempt := 0; ; attempt++ {
		err := t.fetchOnce(ctx)
		if err == nil {
			return t.verify()
		}
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		if !retryable(err) || attempt >= m.opts.MaxRetries {
			return err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		delay = min(2*delay, m.opts.MaxBackoff)
	}
}

// finish points the revision's ref at the commit and registers the model.
func (m *Manager) finish(rec store.Download) error {
	if library.ValidateCommit(rec.Revision) != nil {
		if err := m.cache.WriteRef(rec.Repo, rec.Revision, rec.Commit); err != nil {
			return err
		}
	}
	return m.db.RegisterModel(RegistryRecord(m.installed(rec)))
}

// installed describes the snapshot that download rec wrote.
func (m *Manager) installed(rec store.Download) library.Model {
	lm := m.cache.Classify(m.cache.SnapshotDir(rec.Repo, rec.Commit))
	lm.ID, lm.Repo, lm.Commit = rec.Repo, rec.Repo, rec.Commit
	return lm
}

// RegistryRecord converts a scanned library model to its registry record.
func RegistryRecord(lm library.Model) store.Model {
	return store.Model{ID: lm.ID, Repo: lm.Repo, Revision: lm.Commit, Path: lm.Path, SizeBytes: lm.SizeBytes,
		Architecture: lm.Architecture, Params: lm.Params, QuantBits: lm.Quant.Bits, QuantGroupSize: lm.Quant.GroupSize,
		QuantMode: lm.Quant.Mode, Supported: lm.Supported, Reason: lm.Reason}
}

// removePartials deletes the incomplete files of rec and, when the
// snapshot was never completed (no ref names its commit), the snapshot.
func (m *Manager) removePartials(rec store.Download) {
	for _, f := range rec.Files {
		os.Remove(m.cache.IncompletePath(rec.Repo, f.BlobID))
	}
	if rec.State == store.DownloadDone {
		return
	}
	if c, err := m.cache.ReadRef(rec.Repo, rec.Revision); err != nil || c != rec.Commit {
		m.cache.DeleteSnapshot(rec.Repo, rec.Commit)
	}
}
