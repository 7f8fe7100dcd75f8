package hub

import (
	"time"

	"github.com/lmx-app/lmx/store"
)

// Progress is a download's state for the UI and the terminal.
type Progress struct {
	ID          string              `json:"id"`
	Repo        string              `json:"repo"`
	State       store.DownloadState `json:"state"`
	DoneBytes   int64               `json:"done_bytes"`
	TotalBytes  int64               `json:"total_bytes"`
	BytesPerSec float64             `json:"bytes_per_sec"`
	ETA         time.Duration       `json:"eta_ns"` // -1 when unknown
	FilesDone   int                 `json:"files_done"`
	FilesTotal  int                 `json:"files_total"`
	Error       string              `json:"error,omitempty"`
}

// Progress returns the latest progress of download id: live while it
// runs, else from its record.
func (m *Manager) Progress(id string) (Progress, error) {
	if j := m.active(id); j != nil {
		j.mu.Lock()
		defer j.mu.Unlock()
		return j.last, nil
	}
	rec, err := m.db.Download(id)
	if err != nil {
		return Progress{}, err
	}
	return recordProgress(rec), nil
}

// List returns the progress of every recorded download.
func (m *Manager) List() ([]Progress, error) {
	recs, err := m.db.Downloads()
	if err != nil {
		return nil, err
	}
	out := make([]Progress, len(recs))
	for i, rec := range recs {
		if out[i], err = m.Progress(rec.ID); err != nil {
			out[i] = recordProgress(rec)
		}
	}
	return out, nil
}

// recordProgress describes a download that is not running.
func recordProgress(rec store.Download) Progress {
	p := Progress{ID: rec.ID, Repo: rec.Repo, State: rec.State, FilesTotal: len(rec.Files), ETA: -1, Error: rec.Error}
	for _, f := range rec.Files {
		p.TotalBytes += f.Size
		if f.Done {
			p.DoneBytes += f.Size
			p.FilesDone++
		}
	}
	return p
}

// snapshot is the job's progress now, without speed.
func (j *job) snapshot(rec store.Download, state store.DownloadState, msg string) Progress {
	return Progress{ID: rec.ID, Repo: rec.Repo, State: state, DoneBytes: j.bytes.Load(), TotalBytes: j.total,
		ETA: -1, FilesDone: int(j.files.Load()), FilesTotal: len(rec.Files), Error: msg}
}

// report calls OnProgress every ProgressEvery with a smoothed speed and ETA
// until the returned stop is called.
func (m *Manager) report(j *job, rec store.Download) (stop func()) {
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(m.opts.ProgressEvery)
		defer tick.Stop()
		last, lastAt, speed := j.bytes.Load(), time.Now(), -1.0
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				done := j.bytes.Load()
				speed = smooth(speed, float64(done-last)/now.Sub(lastAt).Seconds())
				last, lastAt = done, now
				m.emit(j, rec, speed)
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// smooth is an exponential moving average; prev < 0 means no history.
func smooth(prev, now float64) float64 {
	if prev < 0 {
		return now
	}
	return 0.3*now + 0.7*prev
}

// emit publishes a running job's progress.
func (m *Manager) emit(j *job, rec store.Download, speed float64) {
	p := j.snapshot(rec, store.DownloadRunning, "")
	p.BytesPerSec = speed
	if speed > 0 {
		p.ETA = time.Duration(float64(p.TotalBytes-p.DoneBytes) / speed * float64(time.Second))
	}
	j.mu.Lock()
	j.last = p
	j.mu.Unlock()
	m.progress(p)
}
