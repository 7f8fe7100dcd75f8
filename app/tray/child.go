package tray

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Menu is the menu the child process drives: systray in the desktop build, a
// fake in tests.
type Menu interface {
	// Show displays s. Called from Serve's goroutine, once per status line.
	Show(s Status)
	// Clicks delivers the commands the user picks in the menu.
	Clicks() <-chan Command
}

// Serve runs the child's side of the protocol: every Status read from in is
// shown on menu, every click is written to out as a Request. It returns when
// in ends — the parent closed the pipe or died — with nil, or with the error
// that broke the pipe. Malformed lines are reported on stderr and skipped.
func Serve(in io.Reader, out io.Writer, menu Menu) error {
	done := make(chan struct{})
	writeErr := make(chan error, 1)
	go forwardClicks(menu.Clicks(), NewEncoder[Request](out), done, writeErr)
	defer close(done)
	dec := NewDecoder[Status](in)
	for {
		s, err := dec.Decode()
		switch {
		case errors.Is(err, io.EOF):
			return firstError(writeErr)
		case errors.Is(err, ErrMalformed):
			fmt.Fprintf(os.Stderr, "lmx tray: %v\n", err)
		case err != nil:
			return err
		default:
			menu.Show(s)
		}
	}
}

// forwardClicks writes each click as a Request until done closes or a write
// fails (the parent is gone; Serve then sees in end).
func forwardClicks(clicks <-chan Command, enc *Encoder[Request], done <-chan struct{}, writeErr chan<- error) {
	for {
		select {
		case <-done:
			return
		case c := <-clicks:
			if err := enc.Encode(Request{Command: c}); err != nil {
				writeErr <- err
				return
			}
		}
	}
}

// firstError returns the error in errs if there is one, else nil.
func firstError(errs <-chan error) error {
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
