package hub

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub/hubtest"
	"github.com/lmx-app/lmx/store/library"
)

// panicky is a transport that panics on file downloads while armed, as a
// bug deep in the fetch path would, inside the download's own goroutine.
type panicky struct {
	armed atomic.Bool
	next  http.RoundTripper
}

func (p *panicky) RoundTrip(r *http.Request) (*http.Response, error) {
	if p.armed.Load() && strings.Contains(r.URL.Path, "/resolve/") {
		panic("injected panic in a file download")
	}
	return p.next.RoundTrip(r)
}

// TestDownloadPanicFailsTheDownloadNotTheProcess: a panic in a download's
// file goroutine, in the download goroutine itself and in the progress
// reporter each fail (or skip) only that download; the failure is recorded
// with the panic, and the same download then succeeds on Resume.
func TestDownloadPanicFailsTheDownloadNotTheProcess(t *testing.T) {
	h := hubtest.New(t)
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cache := library.Cache{Dir: t.TempDir()}
	tr := &panicky{next: http.DefaultTransport}
	client := NewClient(h.URL, "")
	client.HTTP = &http.Client{Transport: tr}
	var progressPanics atomic.Int32
	opts := Options{Backoff: 10 * time.Millisecond, StallTimeout: time.Second, ProgressEvery: 5 * time.Millisecond,
		OnProgress: func(p Progress) {
			if p.State == store.DownloadRunning && progressPanics.Add(1) <= 3 {
				panic("injected panic in OnProgress")
			}
		}}
	mgr := NewManager(client, cache, db, opts)
	defer mgr.Close()
	repo := h.AddFolder(t, "mlx-community/llama-tiny", fixtureDir(t, "llama"))
	ctx := context.Background()

	// 1. The file goroutine panics.
	tr.armed.Store(true)
	id, err := mgr.Start(ctx, repo.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	err = mgr.Wait(ctx, id)
	if err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("download with a panicking fetch: %v, want an internal error", err)
	}
	rec, _ := db.Download(id)
	if rec.State != store.DownloadFailed || !strings.Contains(rec.Error, "injected panic") {
		t.Errorf("record %s %q, want failed with the panic", rec.State, rec.Error)
	}

	// 2. The download goroutine itself panics.
	tr.armed.Store(false)
	safe.Arm("hub.download", "injected panic in the download goroutine")
	defer safe.Disarm("hub.download")
	if err := mgr.Resume(id); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Wait(ctx, id); err == nil || !strings.Contains(err.Error(), "download goroutine") {
		t.Fatalf("download with a panicking run: %v, want the panic", err)
	}

	// 3. Now it completes (the progress callback panicking along the way).
	if err := mgr.Resume(id); err != nil {
		t.Fatal(err)
	}
	if err := mgr.Wait(ctx, id); err != nil {
		t.Fatalf("download after the panics: %v", err)
	}
	if progressPanics.Load() == 0 {
		t.Error("OnProgress never ran")
	}
	if rec, _ := db.Download(id); rec.State != store.DownloadDone {
		t.Errorf("final state %s", rec.State)
	}
}
