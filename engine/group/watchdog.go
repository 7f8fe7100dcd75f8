package group

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/lmx-app/lmx/metal"
)

// DefaultDeadline is how long the leader waits for the group to finish one
// step or message before it gives the group up as lost.
const DefaultDeadline = 60 * time.Second

// loadFactor stretches the deadline for the followers' part of a load: the
// leader waits for the slowest rank to read its weights from its disk.
const loadFactor = 10

// watchdog bounds the leader's waits on the group. A rank that stops
// answering without closing its connections (a frozen machine, a pulled
// cable) leaves a collective blocked until the OS gives up on TCP, many
// minutes later, with the MLX thread, and so every model, stuck behind it.
// When a wait outlives its deadline the watchdog marks the group lost (so
// no further collective is issued) and then shuts down the ring's sockets:
// the blocked collective fails as if the rank had gone, and the loss path
// takes over. Followers waiting for the leader's next message are idle, not
// hung; they are not timed.
type watchdog struct {
	limit time.Duration
	fire  func(what string, limit time.Duration)

	mu      sync.Mutex
	steps   uint64    // steps begun
	began   time.Time // when the last one began
	probing bool
}

// guard runs fn (on the MLX thread), firing if it takes longer than limit.
func (w *watchdog) guard(what string, limit time.Duration, fn func() error) error {
	if w == nil {
		return fn()
	}
	t := time.AfterFunc(limit, func() { w.fire(what, limit) })
	defer t.Stop()
	return fn()
}

// stepBegun marks the start of a scheduler step on the MLX thread. The step
// runs to the end of the Do call it is in, which the leader does not see: a
// probe queues an empty Do behind it, which runs once the step is over,
// and fires if that has not happened by the deadline.
func (w *watchdog) stepBegun() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.steps++
	w.began = time.Now()
	start := !w.probing
	w.probing = true
	w.mu.Unlock()
	if start {
		go w.probe()
	}
}

// probe waits for each step begun to end; it stops when no step is in
// flight.
func (w *watchdog) probe() {
	for {
		w.mu.Lock()
		n, began := w.steps, w.began
		w.mu.Unlock()
		ctx, cancel := context.WithDeadline(context.Background(), began.Add(w.limit))
		err := metal.Do(ctx, func() error { return nil })
		cancel()
		w.mu.Lock()
		done := err != nil || w.steps == n
		if done {
			w.probing = false
		}
		w.mu.Unlock()
		if errors.Is(err, context.DeadlineExceeded) {
			w.fire("a generation step", w.limit)
		}
		if done {
			return
		}
	}
}

// hung gives the group up after a wait of limit on what: lost first, then
// the ring's connections shut down to unblock the MLX thread. Only ring's
// can be: with jaccl or nccl the MLX thread waits for the backend itself.
func (l *Leader) hung(what string, limit time.Duration) {
	l.Fail(fmt.Errorf("no answer from the group within %v during %s: a machine froze or its link is down", limit, what))
	if addrs, err := ringAddrs(); err == nil {
		metal.ShutdownSockets(addrs)
	}
}

// ringAddrs reads the ring backend's addresses from its hostfile
// (MLX_HOSTFILE): the group's connections are those to or from them.
func ringAddrs() ([]netip.AddrPort, error) {
	path := os.Getenv("MLX_HOSTFILE")
	if path == "" {
		return nil, errors.New("not the ring backend (no MLX_HOSTFILE)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ranks [][]string
	if err := json.Unmarshal(b, &ranks); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var addrs []netip.AddrPort
	for _, r := range ranks {
		for _, a := range r {
			ap, err := netip.ParseAddrPort(a)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			addrs = append(addrs, ap)
		}
	}
	return addrs, nil
}
