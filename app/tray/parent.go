package tray

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// closeGrace is how long Close waits for the child to exit by itself after
// its stdin closes, before killing it.
const closeGrace = 5 * time.Second

// Child is the parent's handle on a running tray process.
type Child struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	enc      *Encoder[Status]
	commands chan Command
	exited   chan struct{}
	waitErr  error
}

// Start starts cmd (normally "<exe> tray") as the tray child with its stdin
// and stdout as the protocol pipes; cmd.Stderr is left as the caller set it.
func Start(cmd *exec.Cmd) (*Child, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("tray stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("tray stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tray: %w", err)
	}
	c := &Child{
		cmd: cmd, stdin: stdin, enc: NewEncoder[Status](stdin),
		commands: make(chan Command, 8), exited: make(chan struct{}),
	}
	go c.read(stdout)
	return c, nil
}

// read delivers the child's requests until its stdout ends, then reaps it
// (exec requires all reads to finish before Wait).
func (c *Child) read(stdout io.Reader) {
	dec := NewDecoder[Request](stdout)
	for {
		req, err := dec.Decode()
		if errors.Is(err, ErrMalformed) {
			fmt.Fprintf(os.Stderr, "lmx: tray: %v\n", err)
			continue
		}
		if err != nil {
			break
		}
		c.commands <- req.Command
	}
	close(c.commands)
	c.waitErr = c.cmd.Wait()
	close(c.exited)
}

// Send pushes s to the menu.
func (c *Child) Send(s Status) error {
	return c.enc.Encode(s)
}

// Commands delivers the menu's commands; it is closed when the child exits.
// The caller must keep receiving until then.
func (c *Child) Commands() <-chan Command {
	return c.commands
}

// Exited is closed once the child process has exited.
func (c *Child) Exited() <-chan struct{} {
	return c.exited
}

// Close closes the child's stdin, which makes it exit, and waits for it;
// after closeGrace it kills the child. It returns the child's exit error.
func (c *Child) Close() error {
	_ = c.stdin.Close() // an already closed pipe is fine: the child is exiting
	go func() {
		for range c.commands { // unblock read so it can reap the child
		}
	}()
	select {
	case <-c.exited:
	case <-time.After(closeGrace):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	if c.waitErr != nil {
		return fmt.Errorf("tray exited: %w", c.waitErr)
	}
	return nil
}
