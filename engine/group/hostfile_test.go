package group

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadHostfile reads the two shapes mlx.launch writes and refuses, with
// a message naming the problem, what cannot make a group.
func TestReadHostfile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, body := range []string{
		`[{"ssh": "a.local", "ips": ["10.0.0.1"]}, {"ssh": "b.local", "ips": ["10.0.0.2", "192.168.1.2"]}]`,
		`{"backend": "ring", "envs": [], "hosts": [{"ssh": "a.local", "ips": ["10.0.0.1"]}, {"ssh": "b.local", "ips": ["10.0.0.2"], "rdma": [null]}]}`,
	} {
		hosts, err := ReadHostfile(write("ok.json", body))
		if err != nil || len(hosts) != 2 || hosts[1].SSH != "b.local" || hosts[1].IPs[0] != "10.0.0.2" {
			t.Errorf("%s: %+v, %v", body, hosts, err)
		}
	}
	for body, want := range map[string]string{
		`not json`:                            "want a JSON list",
		`[{"ssh": "a", "ips": ["10.0.0.1"]}]`: "needs two or more",
		`[{"ssh": "a", "ips": ["10.0.0.1"]}, {"ssh": "b"}]`:         `host 1 ("b") has no "ips"`,
		`[{"ssh": "a", "ips": ["10.0.0.1"]}, {"ips": ["mac-b"]}]`:   `"mac-b" is not an IPv4 address`,
		`[{"ssh": "a", "ips": ["10.0.0.1"]}, {"ips": ["fd00::2"]}]`: `"fd00::2" is not an IPv4 address`,
	} {
		_, err := ReadHostfile(write("bad.json", body))
		if !errors.Is(err, ErrHostfile) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want ErrHostfile saying %q", body, err, want)
		}
	}
	if _, err := ReadHostfile(filepath.Join(dir, "missing.json")); !errors.Is(err, ErrHostfile) {
		t.Errorf("missing file: %v", err)
	}
}

// TestUseRing writes the ring's hostfile (rank r at its first IP, port + r)
// and points MLX at it.
func TestUseRing(t *testing.T) {
	UseRing := func(hosts []Host, rank, port int, dir string) error {
		return UseBackend("ring", hosts, rank, port, dir)
	}
	t.Setenv("MLX_HOSTFILE", "")
	t.Setenv("MLX_RANK", "")
	hosts := []Host{{SSH: "a", IPs: []string{"10.0.0.1"}}, {SSH: "b", IPs: []string{"10.0.0.2"}}, {SSH: "c", IPs: []string{"10.0.0.3"}}}
	dir := t.TempDir()
	if err := UseRing(hosts, 2, 40000, dir); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("MLX_RANK") != "2" {
		t.Errorf("MLX_RANK=%q", os.Getenv("MLX_RANK"))
	}
	b, err := os.ReadFile(os.Getenv("MLX_HOSTFILE"))
	if err != nil {
		t.Fatal(err)
	}
	var ring [][]string
	if err := json.Unmarshal(b, &ring); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"10.0.0.1:40000"}, {"10.0.0.2:40001"}, {"10.0.0.3:40002"}}
	if len(ring) != 3 || ring[0][0] != want[0][0] || ring[1][0] != want[1][0] || ring[2][0] != want[2][0] {
		t.Errorf("ring hostfile %s, want %v", b, want)
	}
	if err := UseRing(hosts, 3, 40000, dir); !errors.Is(err, ErrHostfile) {
		t.Errorf("rank 3 of 3 hosts: %v", err)
	}
}
