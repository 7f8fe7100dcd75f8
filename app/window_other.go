//go:build desktop && !linux && !darwin

package app

// webLanguage does nothing here: only WebKitGTK reports "C" as a language.
func webLanguage() {}

// menuBarOnly does nothing here: only macOS has a Dock to leave.
func menuBarOnly() {}
