package group

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// DefaultPort is the first TCP port of the ring (mlx.launch's default):
// rank r listens on DefaultPort + r.
const DefaultPort = 32323

// Host is one machine of a hostfile, in the shape mlx.launch reads: the
// name to reach it by ssh (informative here) and the addresses the other
// ranks reach it at (the first is used).
type Host struct {
	SSH string   `json:"ssh"`
	IPs []string `json:"ips"`
}

// ErrHostfile marks a hostfile LMX cannot use.
var ErrHostfile = errors.New("invalid hostfile")

// ReadHostfile reads an mlx.launch hostfile: a JSON list of hosts, or an
// object with the list under "hosts". Rank r is the r-th host.
func ReadHostfile(path string) ([]Host, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHostfile, err)
	}
	var hosts []Host
	if err := json.Unmarshal(b, &hosts); err != nil {
		var wrapped struct {
			Hosts []Host `json:"hosts"`
		}
		if err2 := json.Unmarshal(b, &wrapped); err2 != nil {
			return nil, fmt.Errorf("%w: %s: want a JSON list of {\"ssh\", \"ips\"} hosts: %v", ErrHostfile, path, err)
		}
		hosts = wrapped.Hosts
	}
	if len(hosts) < 2 {
		return nil, fmt.Errorf("%w: %s lists %d hosts; a group needs two or more", ErrHostfile, path, len(hosts))
	}
	for i, h := range hosts {
		if len(h.IPs) == 0 {
			return nil, fmt.Errorf("%w: %s: host %d (%q) has no \"ips\"", ErrHostfile, path, i, h.SSH)
		}
		if ip := net.ParseIP(h.IPs[0]); ip == nil || ip.To4() == nil {
			return nil, fmt.Errorf("%w: %s: host %d: %q is not an IPv4 address (MLX's ring backend takes ip:port)", ErrHostfile, path, i, h.IPs[0])
		}
	}
	return hosts, nil
}

// UseRing points MLX's ring backend at hosts for rank: it writes the ring's
// hostfile (one "ip:port" list per rank, ports from port) into dir and sets
// MLX_HOSTFILE and MLX_RANK for this process.
func UseRing(hosts []Host, rank, port int, dir string) error {
	if rank < 0 || rank >= len(hosts) {
		return fmt.Errorf("%w: rank %d of %d hosts", ErrHostfile, rank, len(hosts))
	}
	ring := make([][]string, len(hosts))
	for r, h := range hosts {
		ring[r] = []string{net.JoinHostPort(h.IPs[0], strconv.Itoa(port+r))}
	}
	b, _ := json.Marshal(ring)
	path := filepath.Join(dir, "ring-hosts.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	if err := os.Setenv("MLX_HOSTFILE", path); err != nil {
		return err
	}
	return os.Setenv("MLX_RANK", strconv.Itoa(rank))
}
