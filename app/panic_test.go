package app

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/tray"
	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/store"
)

// TestPoolPanicsKeepServing injects a panic into the pool's model load and
// into its idle unloader (the timer's goroutine): the load fails with an
// error for its caller, the unloader's panic is logged, and the pool keeps
// loading, serving and unloading models.
func TestPoolPanicsKeepServing(t *testing.T) {
	a, ids := poolApp(t, 1, func(s *store.Settings) { s.IdleUnloadSec = 1 })
	ctx := context.Background()

	safe.Arm("pool.load", "injected panic in the load")
	defer safe.Disarm("pool.load")
	if _, err := a.Model(ctx, ids[0]); err == nil || !strings.Contains(err.Error(), "internal error") {
		t.Fatalf("load with a panic: %v, want an internal error", err)
	}
	use := func() {
		t.Helper()
		reqCtx, end := context.WithCancel(ctx)
		defer end()
		m, err := a.Model(reqCtx, ids[0])
		if err != nil {
			t.Fatalf("load after the panic: %v", err)
		}
		if _, err := greedy(ctx, m, []int32{1}, 4); err != nil {
			t.Fatal(err)
		}
	}
	use()

	// The idle unloader panics once: the model stays loaded, nothing dies.
	safe.Arm("pool.idle", "injected panic in the idle unloader")
	defer safe.Disarm("pool.idle")
	time.Sleep(2500 * time.Millisecond)
	if !slices.Contains(loaded(a), ids[0]) {
		t.Fatal("unloaded although the unloader panicked")
	}
	// The next use arms it again, and it unloads.
	use()
	waitFor(t, 10*time.Second, "the idle model did not unload after the unloader's panic",
		func() bool { return len(loaded(a)) == 0 })
}

// TestTrayPanicsKeepServing: the tray link survives a panic in a menu
// command (New chat's window action) and in building the menu's status;
// the following commands (Quit) still arrive.
func TestTrayPanicsKeepServing(t *testing.T) {
	a := newTestApp(t, false)
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	safe.Arm("tray.status", "injected panic building the tray status")
	defer safe.Disarm("tray.status")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), trayChildEnv+"=1")
	cmd.Stderr = os.Stderr
	child, err := tray.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	quit := make(chan struct{}, 1)
	win := WindowActions{
		Show:    func() {},
		NewChat: func() { panic("injected panic in a window action") },
		Quit:    func() { quit <- struct{}{} },
	}
	served := make(chan struct{})
	go func() { a.ServeTray(child, win); close(served) }()
	// The first status update panicked; a later one reaches the menu,
	// which clicks Stop server, then New chat (panics), then Quit.
	deadline := time.After(10 * time.Second)
	for a.URL() != "" {
		a.Publish()
		select {
		case <-deadline:
			t.Fatal("the menu never saw a status after the panic")
		case <-time.After(50 * time.Millisecond):
		}
	}
	select {
	case <-quit:
	case <-time.After(10 * time.Second):
		t.Fatal("Quit never arrived after the panicking command")
	}
	child.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeTray did not return after the child exited")
	}
}
