package faulttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestKillDuringStoreWrites kills lmx serve while settings and chats are
// being written (one settings writer, six chat writers, all in flight), then
// restarts it: the store opens as it is (no reset, no damaged copy), every
// acknowledged chat is there with its title, and the setting holds the last
// acknowledged value or the one in flight at the kill.
func TestKillDuringStoreWrites(t *testing.T) {
	in := newInstance(t)
	srv := in.start()
	var (
		stop                atomic.Bool
		wg                  sync.WaitGroup
		mu                  sync.Mutex
		chats               = map[string]string{} // acknowledged: id → title
		lastAcked, lastSent atomic.Int64
	)
	wg.Add(1)
	go func() { // settings: one writer, so the stored value is ordered
		defer wg.Done()
		for i := int64(1000); !stop.Load(); i++ {
			lastSent.Store(i)
			if _, err := call(srv.URL, "PUT", "/api/settings", map[string]any{"idle_unload_sec": i}, nil); err != nil {
				return
			}
			lastAcked.Store(i)
		}
	}()
	var n atomic.Int64
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				title := fmt.Sprintf("chat %d", n.Add(1))
				var c struct{ ID, Title string }
				if _, err := call(srv.URL, "POST", "/api/chats", map[string]any{"title": title}, &c); err != nil {
					return
				}
				mu.Lock()
				chats[c.ID] = title
				mu.Unlock()
			}
		}()
	}
	waitFor(t, time.Minute, "100 acknowledged chats", func() bool { mu.Lock(); defer mu.Unlock(); return len(chats) >= 100 })
	if err := srv.Kill(); err != nil {
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("killed after %d acknowledged chats and settings value %d (last sent %d)", len(chats), lastAcked.Load(), lastSent.Load())

	srv = in.start()
	checkStoreKept(t, in, srv.URL, chats, lastAcked.Load(), lastSent.Load())
}

// checkStoreKept verifies the restarted server's store.
func checkStoreKept(t *testing.T, in *instance, url string, chats map[string]string, acked, sent int64) {
	var s struct {
		IdleUnloadSec int64 `json:"idle_unload_sec"`
	}
	mustCall(t, url, "GET", "/api/settings", nil, &s)
	if s.IdleUnloadSec != acked && s.IdleUnloadSec != sent {
		t.Errorf("idle_unload_sec is %d after the restart; acknowledged %d, in flight %d", s.IdleUnloadSec, acked, sent)
	}
	var list struct {
		Chats []struct{ ID, Title string }
	}
	mustCall(t, url, "GET", "/api/chats", nil, &list)
	have := map[string]string{}
	for _, c := range list.Chats {
		have[c.ID] = c.Title
	}
	for id, title := range chats {
		if have[id] != title {
			t.Errorf("acknowledged chat %s %q is %q after the restart", id, title, have[id])
		}
	}
	t.Logf("after the restart: %d chats (%d acknowledged), idle_unload_sec %d", len(have), len(chats), s.IdleUnloadSec)
	entries, _ := os.ReadDir(in.data)
	for _, e := range entries {
		if strings.Contains(e.Name(), "damaged") {
			t.Errorf("the store was reset: %s", filepath.Join(in.data, e.Name()))
		}
	}
}
