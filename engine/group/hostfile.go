package group

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
)

// DefaultPort is the first TCP port of the ring (mlx.launch's default):
// rank r listens on DefaultPort + r.
const DefaultPort = 32323

// Host is one machine of a hostfile, in the shape mlx.launch reads: the
// name to reach it by ssh (informative here), the addresses the other
// ranks reach it at (the first is used) and, for the jaccl backend, its
// RDMA device towards each rank (null towards itself; a name or a list of
// names), kept as written.
type Host struct {
	SSH  string            `json:"ssh"`
	IPs  []string          `json:"ips"`
	RDMA []json.RawMessage `json:"rdma,omitempty"`
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
