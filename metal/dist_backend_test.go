package metal

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/disttest"
)

// TestDistInitMissingBackend: asking for a backend this MLX build lacks
// (jaccl is macOS-only, nccl needs the CUDA build) fails at once with a
// message naming the backend and what it needs, even with its whole
// configuration set (a join that waited would hang the process's start).
func TestDistInitMissingBackend(t *testing.T) {
	if _, ok := disttest.Rank(); ok {
		return
	}
	requireMLX(t)
	for _, v := range []string{"MLX_RANK=0", "MLX_WORLD_SIZE=2", "NCCL_HOST_IP=127.0.0.1", "NCCL_PORT=1",
		"MLX_IBV_DEVICES=/nonexistent.json", "MLX_JACCL_COORDINATOR=127.0.0.1:1"} {
		k, val, _ := strings.Cut(v, "=")
		t.Setenv(k, val)
	}
	for backend, want := range map[string]string{BackendJaccl: "macOS", BackendNCCL: "CUDA"} {
		var ok bool
		do(t, func() error {
			var err error
			ok, err = DistAvailable(backend)
			return err
		})
		if ok {
			t.Logf("this MLX build has %s: nothing to check", backend)
			continue
		}
		start := time.Now()
		g, err := DistInit(backend)
		took := time.Since(start)
		if err == nil {
			t.Errorf("DistInit(%q) joined a group of %d on a build without it", backend, g.Size())
			continue
		}
		msg := err.Error()
		t.Logf("%s: %v (%v)", backend, err, took)
		if !errors.Is(err, ErrMLX) || !errors.Is(err, ErrNoBackend) || !strings.Contains(msg, "no "+backend+" backend") || !strings.Contains(msg, want) || !strings.Contains(msg, "ring") {
			t.Errorf("DistInit(%q) = %v, want an error saying the build has no %s backend, that it needs %s, and to use ring", backend, err, backend, want)
		}
		if took > 2*time.Second {
			t.Errorf("DistInit(%q) took %v to fail", backend, took)
		}
	}
}

// TestDistInitBackendEnv: a backend this build has but whose configuration
// is missing names the variables it reads.
func TestDistInitBackendEnv(t *testing.T) {
	if _, ok := disttest.Rank(); ok {
		return
	}
	requireMLX(t)
	t.Setenv("MLX_RANK", "0")
	t.Setenv("MLX_HOSTFILE", "")
	_, err := DistInit(BackendRing)
	if !errors.Is(err, ErrMLX) || !strings.Contains(err.Error(), "needs MLX_HOSTFILE") {
		t.Errorf("ring without MLX_HOSTFILE: %v", err)
	}
}

// TestShutdownSockets: a read blocked on a connection whose peer is silent
// (alive, connected, sending nothing) ends once the connection's address is
// shut down, whether the address is the peer's or this side's; a connection
// to another address keeps working.
func TestShutdownSockets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	dial := func(l net.Listener) (mine, theirs net.Conn) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return c, s
	}
	out, in := dial(ln) // out's peer and in's local address: ln's
	keep, keepPeer := dial(other)
	readers := map[string]chan error{}
	for name, c := range map[string]net.Conn{"dialed": out, "accepted": in, "other": keep} {
		ch := make(chan error, 1)
		readers[name] = ch
		go func() {
			_, err := c.Read(make([]byte, 1))
			ch <- err
		}()
	}
	time.Sleep(100 * time.Millisecond)
	addr := netip.MustParseAddrPort(ln.Addr().String())
	if n := ShutdownSockets([]netip.AddrPort{addr}); n != 2 {
		t.Errorf("shut %d sockets, want 2 (both ends of the connection to %v)", n, addr)
	}
	for _, name := range []string{"dialed", "accepted"} {
		select {
		case err := <-readers[name]:
			if err != io.EOF {
				t.Errorf("%s: read ended with %v, want EOF", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s: read still blocked after the shutdown", name)
		}
	}
	if _, err := keepPeer.Write([]byte{7}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readers["other"]:
		if err != nil {
			t.Errorf("the other connection: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the other connection stopped working")
	}
}
