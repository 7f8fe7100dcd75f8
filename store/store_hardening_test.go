package store

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestStoreFilesArePrivate: the data dir and the database (which holds the
// Hub token and the API key's hash) are readable by their owner only, so
// other local users cannot read them; a damaged copy set aside keeps that.
func TestStoreFilesArePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX permissions")
	}
	dir := filepath.Join(t.TempDir(), "data")
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %v, want at most %v", path, got, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("garbage garbage garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info, err := os.Stat(db.Reset().Kept)
	if err != nil || info.Mode().Perm()&^0o600 != 0 {
		t.Errorf("kept damaged file: %v, %v; want mode 0600", info, err)
	}
}

// TestEndpointSettingIsValidated: a Hub endpoint the token must not go to is
// refused when the setting is saved, and nothing is saved.
func TestEndpointSettingIsValidated(t *testing.T) {
	db, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, bad := range []string{"http://hub.example.com", "https://user:pw@hub.example.com", "https://hub.example.com/../x", "ftp://hub.example.com"} {
		_, err := db.UpdateSettings(func(s *Settings) error { s.Library.Endpoint = bad; return nil })
		if !errors.Is(err, ErrInvalidSetting) || !strings.Contains(err.Error(), "library.endpoint") {
			t.Errorf("endpoint %q saved: %v", bad, err)
		}
	}
	s, _ := db.Settings()
	if s.Library.Endpoint != "" {
		t.Errorf("a refused endpoint was saved: %q", s.Library.Endpoint)
	}
	for _, good := range []string{"https://hf-mirror.example.com", "http://127.0.0.1:8080", "http://localhost:9000/prefix"} {
		if _, err := db.UpdateSettings(func(s *Settings) error { s.Library.Endpoint = good; return nil }); err != nil {
			t.Errorf("endpoint %q refused: %v", good, err)
		}
	}
}
