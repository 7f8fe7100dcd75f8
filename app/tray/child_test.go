package tray

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"
)

// childEnv makes the test binary act as a tray child (see TestMain).
const childEnv = "LMX_TRAY_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := Serve(os.Stdin, os.Stdout, newEchoMenu()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// echoMenu "clicks" in answer to each status: Open window while the server
// runs, Stop server while it does not, and Quit when told the engine failed.
type echoMenu struct {
	shown  []Status
	clicks chan Command
}

func newEchoMenu() *echoMenu { return &echoMenu{clicks: make(chan Command, 8)} }

func (m *echoMenu) Show(s Status) {
	m.shown = append(m.shown, s)
	switch {
	case s.EngineError != "":
		m.clicks <- Quit
	case s.Running:
		m.clicks <- OpenWindow
	default:
		m.clicks <- StopServer
	}
}

func (m *echoMenu) Clicks() <-chan Command { return m.clicks }

func TestServeInProcess(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	menu := newEchoMenu()
	served := make(chan error, 1)
	go func() { served <- Serve(inR, outW, menu) }()
	enc, dec := NewEncoder[Status](inW), NewDecoder[Request](outR)
	for _, c := range []struct {
		status Status
		want   Command
	}{
		{Status{Running: true, URL: "http://127.0.0.1:1235"}, OpenWindow},
		{Status{EngineError: "no libmlx"}, Quit},
	} {
		if err := enc.Encode(c.status); err != nil {
			t.Fatal(err)
		}
		if req, err := dec.Decode(); err != nil || req.Command != c.want {
			t.Fatalf("after %+v got %+v, %v; want %s", c.status, req, err, c.want)
		}
	}
	inW.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after stdin closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return when its input closed")
	}
	if len(menu.shown) != 2 || menu.shown[0].URL != "http://127.0.0.1:1235" {
		t.Errorf("menu showed %+v", menu.shown)
	}
}

func TestChildProcess(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	child, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		status Status
		want   Command
	}{
		{Status{Running: true}, OpenWindow},
		{Status{Running: false}, StopServer},
	} {
		if err := child.Send(c.status); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-child.Commands():
			if got != c.want {
				t.Fatalf("after %+v the child sent %q, want %q", c.status, got, c.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no command from the child after %+v", c.status)
		}
	}
	start := time.Now()
	if err := child.Close(); err != nil {
		t.Fatalf("child exit: %v", err)
	}
	if d := time.Since(start); d >= closeGrace {
		t.Errorf("child took %v to exit after stdin closed: it was killed, not exited", d)
	}
	if _, ok := <-child.Commands(); ok {
		t.Error("Commands not closed after the child exited")
	}
}
