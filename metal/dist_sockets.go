//go:build linux || darwin

package metal

import (
	"net/netip"
	"os"
	"strconv"
	"syscall"
)

// ShutdownSockets shuts down (shutdown(2), both directions) every TCP socket
// of this process whose local or peer address is in addrs, and returns how
// many it shut. It unblocks a collective of MLX's ring backend that waits on
// a peer which stopped answering without closing its connection (a frozen
// machine, a pulled cable): the backend's reads then end as if the peer had
// gone, and the collective fails with an MLX error. The descriptors stay
// open, for MLX owns and closes them. Safe on any goroutine; it makes no MLX
// call.
func ShutdownSockets(addrs []netip.AddrPort) int {
	want := map[netip.AddrPort]bool{}
	for _, a := range addrs {
		want[a] = true
	}
	n := 0
	for _, fd := range openFDs() {
		local, lerr := sockAddr(syscall.Getsockname(fd))
		peer, perr := sockAddr(syscall.Getpeername(fd))
		// Connected sockets only (a listener has no peer).
		if perr == nil && (want[peer] || (lerr == nil && want[local])) {
			if syscall.Shutdown(fd, syscall.SHUT_RDWR) == nil {
				n++
			}
		}
	}
	return n
}

// openFDs lists this process's descriptors: /dev/fd on both Linux (a link
// to /proc/self/fd) and macOS (fdesc), else every number below the
// descriptor limit.
func openFDs() []int {
	var fds []int
	if entries, err := os.ReadDir("/dev/fd"); err == nil {
		for _, e := range entries {
			if fd, err := strconv.Atoi(e.Name()); err == nil {
				fds = append(fds, fd)
			}
		}
		return fds
	}
	var lim syscall.Rlimit
	limit := uint64(1 << 16)
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < limit {
		limit = lim.Cur
	}
	for fd := range int(limit) {
		fds = append(fds, fd)
	}
	return fds
}

// sockAddr converts an IPv4 or IPv6 socket address; anything else (not a
// socket, a Unix socket) is an error.
func sockAddr(sa syscall.Sockaddr, err error) (netip.AddrPort, error) {
	if err != nil {
		return netip.AddrPort{}, err
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), nil
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port)), nil
	}
	return netip.AddrPort{}, syscall.EAFNOSUPPORT
}
