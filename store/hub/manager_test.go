package hub

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/hub/hubtest"
	"github.com/lmx-app/lmx/store/library"
)

// splitSafetensors splits a safetensors file into two valid shards and the
// model.safetensors.index.json that maps each tensor to its shard.
func splitSafetensors(t *testing.T, data []byte) (map[string][]byte, int) {
	t.Helper()
	n := binary.LittleEndian.Uint64(data)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	body := data[8+n:]
	var names []string
	for k := range header {
		if k != "__metadata__" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	shardNames := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
	files, weightMap := map[string][]byte{}, map[string]string{}
	for s, part := range [][]string{names[:len(names)/2], names[len(names)/2:]} {
		files[shardNames[s]] = writeShard(t, header, body, part)
		for _, k := range part {
			weightMap[k] = shardNames[s]
		}
	}
	index, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": len(body)}, "weight_map": weightMap})
	files["model.safetensors.index.json"] = index
	return files, len(names)
}

// writeShard builds a safetensors file holding the tensors names.
func writeShard(t *testing.T, header map[string]json.RawMessage, body []byte, names []string) []byte {
	out := map[string]any{}
	var data []byte
	for _, k := range names {
		var ti struct {
			DType   string  `json:"dtype"`
			Shape   []int64 `json:"shape"`
			Offsets [2]int  `json:"data_offsets"`
		}
		if err := json.Unmarshal(header[k], &ti); err != nil {
			t.Fatal(err)
		}
		start := len(data)
		data = append(data, body[ti.Offsets[0]:ti.Offsets[1]]...)
		out[k] = map[string]any{"dtype": ti.DType, "shape": ti.Shape, "data_offsets": []int{start, len(data)}}
	}
	h, _ := json.Marshal(out)
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	buf := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(buf, h...), data...)
}

func TestShardedRepo(t *testing.T) {
	e := newEnv(t, "")
	src := fixtureDir(t, "stories260k")
	weights, _ := os.ReadFile(filepath.Join(src, "model.safetensors"))
	files, _ := splitSafetensors(t, weights)
	for _, f := range []string{"config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"} {
		files[f], _ = os.ReadFile(filepath.Join(src, f))
	}
	repo := e.hub.AddRepo("mlx-community/stories260k-sharded", files)
	m, err := e.mgr.Pull(context.Background(), repo.ID, "main")
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	assertSnapshotMatches(t, e, repo)
	whole := library.Classify(src)
	if !m.Supported || m.Params != whole.Params {
		t.Errorf("sharded model: supported=%v (%s), params %d; the unsharded fixture has %d", m.Supported, m.Reason, m.Params, whole.Params)
	}
}

func TestSearchFollowsLinkPagination(t *testing.T) {
	e := newEnv(t, "")
	for i := 1; i <= 5; i++ {
		e.hub.AddRepo(fmt.Sprintf("mlx-community/Model-%d-4bit", i), map[string][]byte{"config.json": []byte("{}")}).Downloads = int64(i * 100)
	}
	e.hub.AddRepo("someone/Model-9-4bit", map[string][]byte{"config.json": []byte("{}")}).Downloads = 1e6
	c := NewClient(e.hub.URL, "")
	page, err := c.Search(context.Background(), SearchQuery{Author: "mlx-community", Search: "4bit", Sort: "downloads", Limit: 2})
	var ids []string
	pages := 0
	for ; err == nil; page, err = c.SearchNext(context.Background(), page.Next) {
		pages++
		for _, m := range page.Models {
			ids = append(ids, m.ID)
		}
		if page.Next == "" {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"mlx-community/Model-5-4bit", "mlx-community/Model-4-4bit", "mlx-community/Model-3-4bit", "mlx-community/Model-2-4bit", "mlx-community/Model-1-4bit"}
	if !slices.Equal(ids, want) || pages != 3 {
		t.Errorf("got %v in %d pages, want %v in 3", ids, pages, want)
	}
	if _, err := c.SearchNext(context.Background(), "http://evil.example/api/models"); !errors.Is(err, library.ErrUnsafePath) {
		t.Errorf("followed a next link to another host: %v", err)
	}
}

// startThrottled starts a download whose weights trickle, and waits until
// part of them arrived.
func startThrottled(t *testing.T, e *env) (*hubtest.Repo, string) {
	t.Helper()
	repo := e.hub.AddFolder(t, "mlx-community/llama-tiny", fixtureDir(t, "llama"))
	e.hub.SetFault(repo, "model.safetensors", hubtest.Fault{BytesPerSec: 400_000})
	if _, err := e.mgr.Start(context.Background(), repo.ID, "main"); err != nil {
		t.Fatal(err)
	}
	partial := e.cache.IncompletePath(repo.ID, hubtest.SHA256(repo.Files["model.safetensors"]))
	deadline := time.Now().Add(5 * time.Second)
	for fileSize(partial) < 50_000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	e.hub.SetFault(repo, "model.safetensors", hubtest.Fault{})
	return repo, partial
}

// assertResumed checks the last weights request continued a partial file.
func assertResumed(t *testing.T, e *env) {
	t.Helper()
	r := e.hub.Ranges("model.safetensors")
	if last := r[len(r)-1]; !strings.HasPrefix(last, "bytes=") || last == "bytes=0-" {
		t.Errorf("weights requests %q: the last did not resume", r)
	}
}

func TestPauseAndResume(t *testing.T) {
	e := newEnv(t, "")
	repo, partial := startThrottled(t, e)
	id := DownloadID(repo.ID, "main")
	if err := e.mgr.Pause(id); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Wait(context.Background(), id); !errors.Is(err, ErrCanceled) {
		t.Errorf("wait on paused: %v", err)
	}
	if d, _ := e.db.Download(id); d.State != store.DownloadPaused || fileSize(partial) == 0 {
		t.Fatalf("after pause: state %s, partial %d bytes", d.State, fileSize(partial))
	}
	if err := e.mgr.Resume(id); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Wait(context.Background(), id); err != nil {
		t.Fatalf("resumed download: %v", err)
	}
	assertSnapshotMatches(t, e, repo)
	assertResumed(t, e)
}

func TestCancelRemovesPartialFiles(t *testing.T) {
	e := newEnv(t, "")
	repo, partial := startThrottled(t, e)
	id := DownloadID(repo.ID, "main")
	if err := e.mgr.Cancel(id); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("partial file left: %v", err)
	}
	if _, err := os.Stat(e.cache.SnapshotDir(repo.ID, repo.Commit)); !os.IsNotExist(err) {
		t.Errorf("unfinished snapshot left: %v", err)
	}
	if _, err := e.db.Download(id); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("record left: %v", err)
	}
}

func TestConcurrentStartsRunOneDownloadThatCancelStops(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/llama-tiny", fixtureDir(t, "llama"))
	e.hub.SetFault(repo, "model.safetensors", hubtest.Fault{BytesPerSec: 400_000})
	var wg sync.WaitGroup
	for range 4 { // a double click on Download, twice
		wg.Go(func() {
			if _, err := e.mgr.Start(context.Background(), repo.ID, "main"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	partial := e.cache.IncompletePath(repo.ID, hubtest.SHA256(repo.Files["model.safetensors"]))
	for deadline := time.Now().Add(5 * time.Second); fileSize(partial) < 50_000 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if err := e.mgr.Cancel(DownloadID(repo.ID, "main")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a second download would go on writing
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("partial file written after cancel: %v", err)
	}
	if _, err := os.Stat(e.cache.SnapshotDir(repo.ID, repo.Commit)); !os.IsNotExist(err) {
		t.Errorf("snapshot written after cancel: %v", err)
	}
}

func TestInterruptedDownloadResumesOnNextStart(t *testing.T) {
	e := newEnv(t, "")
	repo, _ := startThrottled(t, e)
	e.mgr.Close() // the app quits mid-download
	id := DownloadID(repo.ID, "main")
	if d, _ := e.db.Download(id); !d.Pending() {
		t.Fatalf("state after quit %s, want pending", d.State)
	}
	next := NewManager(NewClient(e.hub.URL, ""), e.cache, e.db, Options{Backoff: 10 * time.Millisecond})
	defer next.Close()
	ids, err := next.ResumePending()
	if err != nil || !slices.Equal(ids, []string{id}) {
		t.Fatalf("resume pending: %v %v", ids, err)
	}
	if err := next.Wait(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertSnapshotMatches(t, e, repo)
	assertResumed(t, e)
}

// fullDisk accepts limit bytes, then fails like a full disk.
type fullDisk struct {
	f     *os.File
	limit int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) > d.limit {
		n, _ := d.f.Write(p[:d.limit])
		d.limit = 0
		return n, &os.PathError{Op: "write", Path: d.f.Name(), Err: syscall.ENOSPC}
	}
	d.limit -= len(p)
	return d.f.Write(p)
}

func (d *fullDisk) Close() error { return d.f.Close() }

func TestDiskFullStopsAndKeepsPartial(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/llama-tiny", fixtureDir(t, "llama"))
	orig := openPartial
	defer func() { openPartial = orig }()
	openPartial = func(path string) (io.WriteCloser, error) {
		f, err := orig(path)
		if err != nil || !strings.Contains(path, hubtest.SHA256(repo.Files["model.safetensors"])) {
			return f, err
		}
		return &fullDisk{f: f.(*os.File), limit: 100_000}, nil
	}
	_, err := e.mgr.Pull(context.Background(), repo.ID, "main")
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("pull on a full disk: %v, want ErrDiskFull", err)
	}
	if n := len(e.hub.Ranges("model.safetensors")); n != 1 {
		t.Errorf("retried %d times on a full disk", n-1)
	}
	partial := e.cache.IncompletePath(repo.ID, hubtest.SHA256(repo.Files["model.safetensors"]))
	if fileSize(partial) != 100_000 {
		t.Errorf("partial file %d bytes, want the 100000 written", fileSize(partial))
	}
	openPartial = orig // space freed
	id := DownloadID(repo.ID, "main")
	if err := e.mgr.Resume(id); err != nil {
		t.Fatal(err)
	}
	if err := e.mgr.Wait(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	assertSnapshotMatches(t, e, repo)
	if r := e.hub.Ranges("model.safetensors"); r[len(r)-1] != "bytes=100000-" {
		t.Errorf("resume requests %q", r)
	}
}

// TestProgressRightAfterStart: the UI lists a download as soon as Start
// returns, before its goroutine reported; it must show the download, not an
// empty entry.
func TestProgressRightAfterStart(t *testing.T) {
	e := newEnv(t, "")
	repo := e.hub.AddFolder(t, "mlx-community/llama-tiny", fixtureDir(t, "llama"))
	e.hub.SetFault(repo, "model.safetensors", hubtest.Fault{BytesPerSec: 400_000})
	id, err := e.mgr.Start(context.Background(), repo.ID, "main")
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.mgr.Progress(id)
	if err != nil || p.ID != id || p.Repo != repo.ID || p.TotalBytes == 0 || p.FilesTotal == 0 ||
		(p.State != store.DownloadQueued && p.State != store.DownloadRunning) {
		t.Errorf("progress right after Start = %+v, %v; want the queued or running download", p, err)
	}
}
