package store

import (
	"os"
	"path/filepath"
	"runtime"
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
