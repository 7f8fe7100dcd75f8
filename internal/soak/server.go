// Package soak runs mixed traffic against a real LMX server for a while and
// watches the process for growth: RSS, goroutines, open files and MLX's
// active memory, sampled over time, with a verdict (flat or growing). It
// also starts and kills the real `lmx serve` binary for the fault tests.
package soak

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Server is a running `lmx serve` process.
type Server struct {
	URL string
	PID int
	cmd *exec.Cmd
	log *os.File
	// exited is closed when the process has been waited for; err is its
	// exit status.
	exited chan struct{}
	err    error
}

// Start runs `bin serve --port 0 --data-dir dataDir args...` with env,
// appending its stdout and stderr to logPath, and waits (up to limit) for
// its "serving at URL" line.
func Start(bin, dataDir, logPath string, env []string, limit time.Duration, args ...string) (*Server, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"serve", "--port", "0", "--data-dir", dataDir}, args...)...)
	cmd.Env, cmd.Stderr = env, logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s serve: %w", bin, err)
	}
	s := &Server{PID: cmd.Process.Pid, cmd: cmd, log: logf, exited: make(chan struct{})}
	found := make(chan string, 1)
	go s.copyStdout(stdout, found)
	go func() { s.err = cmd.Wait(); logf.Close(); close(s.exited) }()
	select {
	case url := <-found:
		s.URL = url
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("lmx serve exited before serving (%v); log %s", s.err, logPath)
	case <-time.After(limit):
		_ = s.Kill()
		return nil, fmt.Errorf("lmx serve printed no URL after %v; log %s", limit, logPath)
	}
}

// copyStdout copies the process's stdout into its log, sending the URL of
// the "serving at" line to found.
func (s *Server) copyStdout(stdout io.Reader, found chan<- string) {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		fmt.Fprintln(s.log, sc.Text())
		if _, url, ok := strings.Cut(sc.Text(), " serving at "); ok {
			select {
			case found <- strings.TrimSpace(url):
			default:
			}
		}
	}
}

// Stop sends SIGTERM and waits up to 20 s for a clean exit.
func (s *Server) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.err
	case <-time.After(20 * time.Second):
		_ = s.Kill()
		return errors.New("lmx serve ignored SIGTERM for 20 s")
	}
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (s *Server) Kill() error {
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("lmx serve survived SIGKILL for 10 s")
	}
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}
