package store

import (
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// populated writes a database with settings, chats and many models (so it
// spans several pages, freelist included) into dir and closes it.
func populated(t *testing.T, dir string) {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateSettings(func(s *Settings) error { s.Server.Port = 9123; return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		id := "org/model-" + strings.Repeat("x", i%50) + string(rune('a'+i%26))
		if err := db.RegisterModel(Model{ID: id + "-" + string(rune('a'+i/26))}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := db.CreateChat("hello", "m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.AppendMessages(c.ID, ChatMessage{Role: "user", Content: strings.Repeat("text ", 2000)}); err != nil {
		t.Fatal(err)
	}
	// Delete some records so the freelist has pages.
	for i := range 100 {
		id := "org/model-" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + "-" + string(rune('a'+i/26))
		_ = db.DeleteModel(id)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// assertReset opens dir and checks that the damaged file was kept, a fresh
// working store replaced it, and the reset is reported.
func assertReset(t *testing.T, dir string, damaged []byte) {
	t.Helper()
	db, err := Open(dir)
	if err != nil {
		t.Fatalf("open damaged store: %v", err)
	}
	t.Cleanup(func() { db.Close() }) // a second Close is harmless
	r := db.Reset()
	if r == nil {
		t.Fatal("Reset() = nil after opening a damaged file")
	}
	if !strings.HasPrefix(filepath.Base(r.Kept), FileName+".damaged-") || filepath.Dir(r.Kept) != dir {
		t.Errorf("kept at %q, want %s/%s.damaged-<time>", r.Kept, dir, FileName)
	}
	got, err := os.ReadFile(r.Kept)
	if err != nil {
		t.Fatalf("damaged file not kept: %v", err)
	}
	if string(got) != string(damaged) {
		t.Errorf("kept file differs from the damaged one (%d bytes, want %d)", len(got), len(damaged))
	}
	if r.Reason == "" || !strings.Contains(r.Message(), r.Kept) {
		t.Errorf("reset message %q lacks a reason or the kept path", r.Message())
	}
	// The fresh store works: defaults, writes, reads.
	s, err := db.Settings()
	if err != nil || s.Server.Port != DefaultSettings().Server.Port {
		t.Fatalf("fresh settings: port %d, err %v", s.Server.Port, err)
	}
	if err := db.RegisterModel(Model{ID: "a/b"}); err != nil {
		t.Fatalf("write to fresh store: %v", err)
	}
	if _, err := db.Model("a/b"); err != nil {
		t.Fatalf("read from fresh store: %v", err)
	}
	db.Close()
	// Reported once: the next open finds a good file.
	db2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db2.Reset() != nil {
		t.Errorf("second open reports a reset again: %+v", db2.Reset())
	}
	if _, err := db2.Model("a/b"); err != nil {
		t.Errorf("fresh store lost its record: %v", err)
	}
	db2.Close()
}

func TestOpenDamagedGarbage(t *testing.T) {
	dir := t.TempDir()
	garbage := make([]byte, 64<<10)
	rand.New(rand.NewSource(1)).Read(garbage)
	if err := os.WriteFile(filepath.Join(dir, FileName), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	assertReset(t, dir, garbage)
}

func TestOpenDamagedTruncated(t *testing.T) {
	for _, n := range []int{100, 4096, 3 * 4096} {
		dir := t.TempDir()
		populated(t, dir)
		path := filepath.Join(dir, FileName)
		if err := os.Truncate(path, int64(n)); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		t.Logf("truncated to %d", n)
		assertReset(t, dir, data)
	}
}

func TestOpenDamagedEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	assertReset(t, dir, nil)
}

// TestOpenDamagedOverwrittenPages overwrites each page of a populated
// database in turn (the freelist page among them, which made bbolt.Open
// panic with "invalid freelist page") and opens it: Open never panics; it
// either finds the damage and resets, or the page held nothing in use and
// every record still reads.
func TestOpenDamagedOverwrittenPages(t *testing.T) {
	src := t.TempDir()
	populated(t, src)
	orig, err := os.ReadFile(filepath.Join(src, FileName))
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	pages := len(orig) / page
	rng := rand.New(rand.NewSource(7))
	resets := 0
	for p := 0; p < pages; p++ {
		damaged := append([]byte(nil), orig...)
		rng.Read(damaged[p*page : (p+1)*page])
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(dir)
		if err != nil {
			t.Fatalf("page %d overwritten: open: %v", p, err)
		}
		if db.Reset() != nil {
			resets++
			db.Close()
			assertKept(t, dir, damaged)
			continue
		}
		// Not reported: then the data must be intact.
		if _, err := db.Settings(); err != nil {
			t.Errorf("page %d overwritten, no reset, settings: %v", p, err)
		}
		if ms, err := db.Models(); err != nil || len(ms) != 100 {
			t.Errorf("page %d overwritten, no reset, models: %d, %v; want 100", p, len(ms), err)
		}
		if cs, err := db.Chats(); err != nil || len(cs) != 1 {
			t.Errorf("page %d overwritten, no reset, chats: %d, %v; want 1", p, len(cs), err)
		}
		db.Close()
	}
	t.Logf("%d pages, %d resets", pages, resets)
	if resets == 0 {
		t.Errorf("none of %d overwritten pages was found damaged", pages)
	}
}

// TestOpenDamagedFreelist overwrites the freelist page only: bbolt.Open
// itself panics on it ("invalid freelist page").
func TestOpenDamagedFreelist(t *testing.T) {
	dir := t.TempDir()
	populated(t, dir)
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Each meta page (0 and 1) names its freelist page after a 16-byte
	// page header and 32 bytes of magic, version, page size, flags, root.
	const page = 4096
	for _, m := range []int{0, 1} {
		meta := data[m*page+16:]
		freelist := int(uint64le(meta[32:40]))
		if freelist <= 1 || (freelist+1)*page > len(data) {
			t.Fatalf("meta %d: freelist page %d out of range", m, freelist)
		}
		for i := 16; i < page; i++ { // keep the page header, garble the list
			data[freelist*page+i] = 0xAB
		}
		data[freelist*page+10] = 0xFF // count: 0xFFFF ids
		data[freelist*page+11] = 0xFF
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	assertReset(t, dir, data)
}

func uint64le(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func assertKept(t *testing.T, dir string, damaged []byte) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, FileName+".damaged-*"))
	if len(m) != 1 {
		t.Fatalf("kept files: %v, want one", m)
	}
	got, _ := os.ReadFile(m[0])
	if string(got) != string(damaged) {
		t.Errorf("kept file differs from the damaged one")
	}
}

// TestOpenDamagedKeepsEarlierCopies: two resets in the same second keep both files.
func TestOpenDamagedKeepsEarlierCopies(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	for i := range 2 {
		if err := os.WriteFile(path, []byte("not a database at all, try "+string(rune('0'+i))+strings.Repeat(".", 9000)), 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(dir)
		if err != nil || db.Reset() == nil {
			t.Fatalf("open %d: %v, reset %v", i, err, db)
		}
		db.Close()
	}
	m, _ := filepath.Glob(filepath.Join(dir, FileName+".damaged-*"))
	if len(m) != 2 {
		t.Errorf("kept files %v, want 2", m)
	}
}

// TestResetNoticeIsTakenOnce: the reset found by one Open (say, a CLI
// command's) is still there for the app's next Open to show, once.
func TestResetNoticeIsTakenOnce(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(strings.Repeat("garbage!", 2000)), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir) // the CLI's open: finds the damage
	if err != nil || db.Reset() == nil {
		t.Fatalf("open: %v, reset %v", err, db)
	}
	found := *db.Reset()
	db.Close()
	db, err = Open(dir) // the app's open
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.TakeReset()
	if err != nil || r == nil || r.Kept != found.Kept || r.Reason != found.Reason || !r.Time.Equal(found.Time) {
		t.Fatalf("TakeReset = %+v, %v; want %+v", r, err, found)
	}
	if r, err := db.TakeReset(); err != nil || r != nil {
		t.Errorf("second TakeReset = %+v, %v; want nil", r, err)
	}
}
