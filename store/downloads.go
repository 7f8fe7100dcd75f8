package store

import (
	"fmt"
	"time"
)

// downloadRecordVersion is the envelope version of Download records.
const downloadRecordVersion = 1

// DownloadState is where a download stands.
type DownloadState string

// Download states. Queued and Running downloads found at start-up were
// interrupted (crash, quit) and are resumed by the download manager.
const (
	DownloadQueued   DownloadState = "queued"
	DownloadRunning  DownloadState = "running"
	DownloadPaused   DownloadState = "paused"
	DownloadDone     DownloadState = "done"
	DownloadFailed   DownloadState = "failed"
	DownloadCanceled DownloadState = "canceled"
)

// Download is the persisted state of one repo snapshot download.
type Download struct {
	ID        string         `json:"id"` // repo@revision
	Repo      string         `json:"repo"`
	Revision  string         `json:"revision"` // what the user asked for, e.g. "main"
	Commit    string         `json:"commit"`   // what it resolved to
	Files     []DownloadFile `json:"files"`
	State     DownloadState  `json:"state"`
	Error     string         `json:"error,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// DownloadFile is one file of a Download.
type DownloadFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"` // LFS files
	BlobID string `json:"blob_id"`          // name in blobs/: the sha256 or the git blob id
	Done   bool   `json:"done"`
}

// Pending reports whether the download was interrupted and should resume.
func (d Download) Pending() bool {
	return d.State == DownloadQueued || d.State == DownloadRunning
}

// PutDownload stores d, stamping UpdatedAt (and CreatedAt when zero).
func (db *DB) PutDownload(d Download) error {
	now := time.Now().UTC()
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now
	}
	d.UpdatedAt = now
	if err := db.put(bucketDownloads, d.ID, downloadRecordVersion, d); err != nil {
		return fmt.Errorf("save download %s: %w", d.ID, err)
	}
	return nil
}

// UpdateDownload applies fn to the stored download id atomically.
func (db *DB) UpdateDownload(id string, fn func(*Download)) (Download, error) {
	var out Download
	err := update(db, bucketDownloads, id, downloadRecordVersion, Download{}, true, func(d *Download) error {
		fn(d)
		d.UpdatedAt = time.Now().UTC()
		out = *d
		return nil
	})
	if err != nil {
		return Download{}, fmt.Errorf("update download: %w", err)
	}
	return out, nil
}

// Download returns the download with id, or an error wrapping ErrNotFound.
func (db *DB) Download(id string) (Download, error) {
	var d Download
	if err := db.get(bucketDownloads, id, &d); err != nil {
		return Download{}, fmt.Errorf("load download: %w", err)
	}
	return d, nil
}

// Downloads returns every download ordered by ID.
func (db *DB) Downloads() ([]Download, error) {
	ds, err := all[Download](db, bucketDownloads)
	if err != nil {
		return nil, fmt.Errorf("list downloads: %w", err)
	}
	return ds, nil
}

// DeleteDownload forgets the download id.
func (db *DB) DeleteDownload(id string) error {
	if err := db.del(bucketDownloads, id); err != nil {
		return fmt.Errorf("delete download: %w", err)
	}
	return nil
}
