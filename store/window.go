package store

import (
	"errors"
	"fmt"
)

// keyWindow, in the settings bucket, holds the window's last size: state the
// app keeps for the user, not a setting they edit, so it is a record of its
// own beside the Settings document.
const keyWindow = "window"

// windowRecordVersion is the WindowSize record's envelope version.
const windowRecordVersion = 1

// WindowSize is the app window's size in points, as the user last left it.
type WindowSize struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// WindowSize returns the saved window size; ok is false when none was saved.
func (db *DB) WindowSize() (size WindowSize, ok bool, err error) {
	err = db.get(bucketSettings, keyWindow, &size)
	if errors.Is(err, ErrNotFound) {
		return WindowSize{}, false, nil
	}
	if err != nil {
		return WindowSize{}, false, fmt.Errorf("window size: %w", err)
	}
	return size, true, nil
}

// SaveWindowSize records the window's size; sizes that are not positive are
// refused.
func (db *DB) SaveWindowSize(size WindowSize) error {
	if size.Width <= 0 || size.Height <= 0 {
		return fmt.Errorf("window size %dx%d: %w", size.Width, size.Height, ErrInvalidSetting)
	}
	return db.put(bucketSettings, keyWindow, windowRecordVersion, size)
}
