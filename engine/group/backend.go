package group

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lmx-app/lmx/metal"
)

// Backends lists the --backend choices: MLX's distributed backends.
var Backends = []string{metal.BackendRing, metal.BackendJaccl, metal.BackendNCCL, metal.BackendAny}

// ValidBackend refuses a backend name that is not one of Backends.
func ValidBackend(backend string) error {
	if !slices.Contains(Backends, backend) {
		return fmt.Errorf("unknown backend %q: want one of %s", backend, strings.Join(Backends, ", "))
	}
	return nil
}

// Config is one backend's configuration for one rank, as mlx.launch gives
// it: environment variables, and files whose paths some of them hold.
type Config struct {
	Env map[string]string
	// Files maps a variable of Env to the content of the file it names
	// (written by Use, which sets the variable to the file's path).
	Files map[string][]byte
}

// BackendConfig is what MLX's backend needs to join rank's group of hosts,
// the way mlx.launch sets it up (mlx/_distributed_utils/launch.py):
//   - ring: MLX_RANK, and MLX_HOSTFILE naming a JSON list of each rank's
//     "ip:port" (rank r at its first IP, port port + r);
//   - jaccl: MLX_RANK, MLX_JACCL_COORDINATOR (rank 0's first IP and port),
//     and MLX_IBV_DEVICES naming the JSON matrix of every host's "rdma";
//   - nccl: MLX_RANK, MLX_WORLD_SIZE, NCCL_HOST_IP and NCCL_PORT (rank 0's
//     first IP, and port);
//   - any: all of those that the hostfile can configure (ring and nccl
//     always, jaccl when every host lists its RDMA devices); MLX joins the
//     first backend it has.
func BackendConfig(backend string, hosts []Host, rank, port int) (Config, error) {
	if rank < 0 || rank >= len(hosts) {
		return Config{}, fmt.Errorf("%w: rank %d of %d hosts", ErrHostfile, rank, len(hosts))
	}
	cfg := Config{Env: map[string]string{"MLX_RANK": strconv.Itoa(rank)}, Files: map[string][]byte{}}
	ring := func() {
		addrs := make([][]string, len(hosts))
		for r, h := range hosts {
			addrs[r] = []string{net.JoinHostPort(h.IPs[0], strconv.Itoa(port+r))}
		}
		cfg.Files["MLX_HOSTFILE"], _ = json.Marshal(addrs)
	}
	nccl := func() {
		cfg.Env["MLX_WORLD_SIZE"] = strconv.Itoa(len(hosts))
		cfg.Env["NCCL_HOST_IP"] = hosts[0].IPs[0]
		cfg.Env["NCCL_PORT"] = strconv.Itoa(port)
	}
	jaccl := func() error {
		devices, err := rdmaMatrix(hosts)
		if err != nil {
			return err
		}
		cfg.Env["MLX_JACCL_COORDINATOR"] = net.JoinHostPort(hosts[0].IPs[0], strconv.Itoa(port))
		cfg.Files["MLX_IBV_DEVICES"] = devices
		return nil
	}
	switch backend {
	case metal.BackendRing:
		ring()
	case metal.BackendNCCL:
		nccl()
	case metal.BackendJaccl:
		if err := jaccl(); err != nil {
			return Config{}, err
		}
	case metal.BackendAny:
		ring()
		nccl()
		if hasRDMA(hosts) {
			if err := jaccl(); err != nil {
				return Config{}, err
			}
		}
	default:
		return Config{}, ValidBackend(backend)
	}
	return cfg, nil
}

// hasRDMA reports whether any host lists RDMA devices.
func hasRDMA(hosts []Host) bool {
	return slices.ContainsFunc(hosts, func(h Host) bool { return len(h.RDMA) > 0 })
}

// rdmaMatrix checks the hosts' "rdma" lists as mlx.launch does for jaccl
// (one entry per host, null towards itself, a device towards every other)
// and returns them as the JSON matrix MLX_IBV_DEVICES holds.
func rdmaMatrix(hosts []Host) ([]byte, error) {
	matrix := make([][]json.RawMessage, len(hosts))
	for i, h := range hosts {
		if len(h.RDMA) != len(hosts) {
			return nil, fmt.Errorf("%w: the jaccl backend needs an \"rdma\" list of %d entries on every host (its RDMA device towards each rank, null towards itself); host %d (%q) has %d",
				ErrHostfile, len(hosts), i, h.SSH, len(h.RDMA))
		}
		for j, d := range h.RDMA {
			null := bytes.Equal(bytes.TrimSpace(d), []byte("null"))
			if i == j && !null {
				return nil, fmt.Errorf("%w: host %d (%q): its own \"rdma\" entry (%d) must be null", ErrHostfile, i, h.SSH, j)
			}
			if i != j && null {
				return nil, fmt.Errorf("%w: host %d (%q) lists no RDMA device towards host %d (%q)", ErrHostfile, i, h.SSH, j, hosts[j].SSH)
			}
		}
		matrix[i] = h.RDMA
	}
	return json.Marshal(matrix)
}

// Use applies cfg to this process: it writes cfg's files into dir and sets
// its variables, for metal.DistInit to read.
func (cfg Config) Use(dir string) error {
	for name, content := range cfg.Files {
		path := filepath.Join(dir, name+".json")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			return err
		}
		if err := os.Setenv(name, path); err != nil {
			return err
		}
	}
	for name, v := range cfg.Env {
		if err := os.Setenv(name, v); err != nil {
			return err
		}
	}
	return nil
}

// UseBackend points MLX's backend at hosts for rank (BackendConfig), with
// its files in dir.
func UseBackend(backend string, hosts []Host, rank, port int, dir string) error {
	cfg, err := BackendConfig(backend, hosts, rank, port)
	if err != nil {
		return err
	}
	return cfg.Use(dir)
}
