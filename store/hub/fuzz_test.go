package hub

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/lmx-app/lmx/store/library"
)

// fuzzHub serves one body for every request: what a malicious or broken
// Hub answers.
type fuzzHub struct {
	mu   sync.Mutex
	body []byte
}

func (h *fuzzHub) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	b := h.body
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// FuzzHubJSON: the client's decoding of the Hub's JSON (the model info with
// its file list, which is LMX's tree listing, and a search page) never
// panics, and whatever it accepts is safe to act on: a valid repo id and
// commit, file names that stay inside the model folder, blob ids that name
// a cache file, no negative sizes, no file listed twice; search results
// have valid ids. kind picks the endpoint (even: model info, odd: search).
func FuzzHubJSON(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id":"org/m","sha":"0123456789abcdef0123456789abcdef01234567","siblings":[{"rfilename":"config.json","blobId":"0123456789abcdef0123456789abcdef01234567","size":2}]}`))
	f.Add(uint8(1), []byte(`[{"id":"org/m","downloads":1,"likes":2,"tags":["mlx"],"createdAt":"2025-01-01T00:00:00.000Z"}]`))
	hub := &fuzzHub{}
	srv := httptest.NewServer(hub)
	f.Cleanup(srv.Close)
	c := NewClient(srv.URL, "")
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		hub.mu.Lock()
		hub.body = body
		hub.mu.Unlock()
		if kind%2 == 0 {
			checkInfo(t, c, body)
			return
		}
		page, err := c.Search(context.Background(), SearchQuery{Search: "x"})
		if err != nil {
			return
		}
		for _, m := range page.Models {
			if library.ValidateRepoID(m.ID) != nil {
				t.Fatalf("%q: search kept unsafe id %q", body, m.ID)
			}
		}
	})
}

// checkInfo fetches a model info answered with body and checks what is
// accepted.
func checkInfo(t *testing.T, c *Client, body []byte) {
	info, err := c.ModelInfo(context.Background(), "org/m", "main")
	if err != nil {
		return
	}
	if library.ValidateRepoID(info.ID) != nil || library.ValidateCommit(info.Commit) != nil {
		t.Fatalf("%q: accepted id %q commit %q", body, info.ID, info.Commit)
	}
	seen := map[string]bool{}
	for _, f := range info.Files {
		if library.ValidateFileName(f.Name) != nil || library.ValidateBlobID(f.BlobID) != nil {
			t.Fatalf("%q: accepted file %+v", body, f)
		}
		if f.Size < 0 {
			t.Fatalf("%q: accepted file %q of %d bytes", body, f.Name, f.Size)
		}
		if seen[f.Name] {
			t.Fatalf("%q: accepted file %q twice", body, f.Name)
		}
		seen[f.Name] = true
	}
}
