package api

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// importBackend records the paths it is asked to import.
type importBackend struct {
	*fakeBackend
	paths []string
}

func (b *importBackend) ImportGGUF(_ context.Context, path string) (LocalModel, error) {
	b.paths = append(b.paths, path)
	return LocalModel{}, nil
}

// TestImportOnlyFromThisMachine: a GGUF path is taken from loopback clients
// and the app window (in process, where Wails makes up a TEST-NET remote
// address), and refused from other machines.
func TestImportOnlyFromThisMachine(t *testing.T) {
	b := &importBackend{fakeBackend: &fakeBackend{}}
	h := New(Config{}, b, NewHub())
	body := `{"path":"/models/a.gguf"}`
	if w := send(h, "POST", "/api/models/import", body, "192.168.1.20:5000"); w.Code != 403 || !strings.Contains(w.Body.String(), "not_loopback") {
		t.Errorf("from another machine: %d %s", w.Code, w.Body)
	}
	if w := send(h, "POST", "/api/models/import", body, "127.0.0.1:5000"); w.Code != 201 {
		t.Errorf("from loopback: %d %s", w.Code, w.Body)
	}
	r := httptest.NewRequest("POST", "/api/models/import", strings.NewReader(body))
	r.RemoteAddr = "192.0.2.1:1234"
	w := httptest.NewRecorder()
	h.Local().ServeHTTP(w, r)
	if w.Code != 201 {
		t.Errorf("in process: %d %s", w.Code, w.Body)
	}
	if len(b.paths) != 2 {
		t.Errorf("imported %v, want the loopback and in-process requests' paths", b.paths)
	}
}
