package main

import (
	"encoding/json"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/library"
)

// TestServeOnDamagedDataDir starts the real `lmx serve` on a data dir whose
// database is damaged in each of four ways: it serves, keeps the damaged
// file beside, reports the reset once in /api/status, and still lists the
// model already downloaded into the Hub cache (found by scanning).
func TestServeOnDamagedDataDir(t *testing.T) {
	bin := guitest.Build(t)
	// A populated, valid database to damage.
	good := t.TempDir()
	db, err := store.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := db.RegisterModel(store.Model{ID: "org/m" + strings.Repeat("x", i)}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	valid, err := os.ReadFile(filepath.Join(good, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 32<<10)
	rand.New(rand.NewSource(3)).Read(garbage)
	overwritten := append([]byte(nil), valid...)
	for i := 2 * 4096; i < len(overwritten); i++ {
		overwritten[i] = byte(i * 7)
	}
	damages := map[string][]byte{
		"garbage":     garbage,
		"truncated":   valid[:3*4096],
		"overwritten": overwritten,
		"empty":       {},
	}
	hub := downloadedModel(t)
	damages["garbage, found by lmx ls first"] = garbage
	for name, content := range damages {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, store.FileName), content, 0o600); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(name, "lmx ls") {
				// The CLI finds the damage; it says so, and the app still
				// shows the notice on its next start.
				out, err := exec.Command(bin, "ls", "--data-dir", data, "--hub-cache", hub).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "has been reset") {
					t.Fatalf("lmx ls on a damaged store: %v\n%s", err, out)
				}
			}
			env := append(guitest.NoEngineEnv(), "HF_HUB_CACHE="+hub)
			url := guitest.Serve(t, bin, env, "--data-dir", data)
			var s api.Status
			getStatus(t, url, &s)
			if len(s.Notices) != 1 || s.Notices[0].Kind != "store_reset" {
				t.Fatalf("notices %+v, want one store_reset", s.Notices)
			}
			n := s.Notices[0]
			kept, err := os.ReadFile(n.Path)
			if err != nil || string(kept) != string(content) {
				t.Errorf("damaged file not kept at %q: %v", n.Path, err)
			}
			if !strings.Contains(n.Message, n.Path) || !strings.HasPrefix(filepath.Base(n.Path), "lmx.db.damaged-") {
				t.Errorf("notice %+v", n)
			}
			if !hasModel(s.Models, "org/tiny-llama") {
				t.Errorf("models %+v: the downloaded org/tiny-llama was not found again", s.Models)
			}
		})
	}
}

// downloadedModel lays out a Hub cache holding org/tiny-llama as a
// download leaves it (blobs, snapshot links, refs/main) and returns it.
func downloadedModel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	c := library.Cache{Dir: dir}
	const repo, commit = "org/tiny-llama", "0123456789abcdef0123456789abcdef01234567"
	src := filepath.Join(testutil.Fixtures(t), "models", "llama")
	for i, name := range []string{"config.json", "model.safetensors"} {
		content, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		blob := strings.Repeat(string(rune('a'+i)), 40)
		path, err := c.PrepareBlobDir(repo, blob)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.InstallBlob(repo, blob); err != nil {
			t.Fatal(err)
		}
		if err := c.LinkSnapshot(repo, commit, name, blob); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WriteRef(repo, "main", commit); err != nil {
		t.Fatal(err)
	}
	return dir
}

func getStatus(t *testing.T, url string, s *api.Status) {
	t.Helper()
	resp, err := http.Get(url + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(s); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/status = %d: %v", resp.StatusCode, err)
	}
}

func hasModel(ms []api.LocalModel, repo string) bool {
	for _, m := range ms {
		if m.Repo == repo || m.ID == repo {
			return true
		}
	}
	return false
}
