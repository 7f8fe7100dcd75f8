package store

import (
	"errors"
	"testing"
)

func TestWindowSizePersists(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.WindowSize(); ok || err != nil {
		t.Fatalf("fresh store has a window size (%v, %v)", ok, err)
	}
	if err := db.SaveWindowSize(WindowSize{Width: 0, Height: 600}); !errors.Is(err, ErrInvalidSetting) {
		t.Errorf("zero width accepted: %v", err)
	}
	if err := db.SaveWindowSize(WindowSize{Width: 900, Height: 640}); err != nil {
		t.Fatal(err)
	}
	// The record sits beside the settings document and must not disturb it.
	if _, err := db.Settings(); err != nil {
		t.Fatalf("settings after saving the window size: %v", err)
	}
	db.Close()
	if db, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, ok, err := db.WindowSize()
	if err != nil || !ok || got != (WindowSize{Width: 900, Height: 640}) {
		t.Errorf("after reopening: %+v, %v, %v", got, ok, err)
	}
}
