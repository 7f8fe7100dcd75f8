package group

import (
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/internal/testutil"
)

// launched is what mlx.launch gives one rank (testdata/launch_env.py).
type launched struct {
	Env   map[string]string `json:"env"`
	Files map[string]string `json:"files"`
}

// mlxLaunch runs mlx.launch's own set-up for backend on the hostfile at
// path: every rank's environment and files, or the refusal's message.
func mlxLaunch(t *testing.T, path, backend string, port int) ([]launched, string) {
	t.Helper()
	py := testutil.Python(t)
	if py == "" {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "no Python with mlx (set LMX_PYTHON or make .venv)")
	}
	out, err := exec.Command(py, filepath.Join("testdata", "launch_env.py"), path, backend, strconv.Itoa(port)).Output()
	if err != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_PY", "mlx.launch's set-up did not run: "+err.Error())
	}
	var refused struct{ Error string }
	if json.Unmarshal(out, &refused) == nil && refused.Error != "" {
		return nil, refused.Error
	}
	var ranks []launched
	if err := json.Unmarshal(out, &ranks); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return ranks, ""
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestBackendConfigLikeMLXLaunch gives every rank of a 3-host hostfile the
// environment and files mlx.launch itself gives it, for ring, nccl and
// jaccl (except CUDA_VISIBLE_DEVICES, which mlx.launch sets from its
// --repeat-hosts and LMX leaves to the user: CUDA reads it at start), and
// refuses the hostfiles mlx.launch refuses for jaccl. One IP per host: with
// more, mlx.launch opens a ring connection per IP, LMX one per host (on
// its first IP, port + rank, as the status shows).
func TestBackendConfigLikeMLXLaunch(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const port = 40000
	good := write("good.json", `{"backend": "jaccl", "hosts": [
		{"ssh": "a", "ips": ["10.0.0.1"], "rdma": [null, "rdma_en3", "rdma_en4"]},
		{"ssh": "b", "ips": ["10.0.0.2"], "rdma": ["rdma_en3", null, ["rdma_en5", "rdma_en6"]]},
		{"ssh": "c", "ips": ["10.0.0.3"], "rdma": ["rdma_en4", "rdma_en5", null]}]}`)
	hosts, err := ReadHostfile(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"ring", "nccl", "jaccl"} {
		want, refused := mlxLaunch(t, good, backend, port)
		if refused != "" || len(want) != len(hosts) {
			t.Fatalf("%s: mlx.launch gave %d ranks, refused %q", backend, len(want), refused)
		}
		for rank, w := range want {
			cfg, err := BackendConfig(backend, hosts, rank, port)
			if err != nil {
				t.Fatalf("%s rank %d: %v", backend, rank, err)
			}
			delete(w.Env, "CUDA_VISIBLE_DEVICES")
			if !maps.Equal(cfg.Env, w.Env) {
				t.Errorf("%s rank %d: environment %v, mlx.launch %v", backend, rank, cfg.Env, w.Env)
			}
			if len(cfg.Files) != len(w.Files) {
				t.Errorf("%s rank %d: files %v, mlx.launch %v", backend, rank, slicesOf(cfg.Files), w.Files)
			}
			for name, content := range w.Files {
				if !sameJSON(cfg.Files[name], []byte(content)) {
					t.Errorf("%s rank %d: %s holds %s, mlx.launch %s", backend, rank, name, cfg.Files[name], content)
				}
			}
		}
	}
	for name, body := range map[string]string{
		"no rdma": `[{"ssh": "a", "ips": ["10.0.0.1"]}, {"ssh": "b", "ips": ["10.0.0.2"]}]`,
		"short":   `[{"ssh": "a", "ips": ["10.0.0.1"], "rdma": [null]}, {"ssh": "b", "ips": ["10.0.0.2"], "rdma": ["x", null]}]`,
		"self":    `[{"ssh": "a", "ips": ["10.0.0.1"], "rdma": ["x", "y"]}, {"ssh": "b", "ips": ["10.0.0.2"], "rdma": ["x", null]}]`,
		"missing": `[{"ssh": "a", "ips": ["10.0.0.1"], "rdma": [null, null]}, {"ssh": "b", "ips": ["10.0.0.2"], "rdma": ["x", null]}]`,
	} {
		path := write("bad.json", body)
		_, refused := mlxLaunch(t, path, "jaccl", port)
		hosts, err := ReadHostfile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = BackendConfig("jaccl", hosts, 0, port)
		if refused == "" || !errors.Is(err, ErrHostfile) || !strings.Contains(err.Error(), "rdma") && !strings.Contains(err.Error(), "RDMA") {
			t.Errorf("%s: %v; mlx.launch: %q; want both to refuse, ours naming the rdma lists", name, err, refused)
		}
	}
}

func slicesOf(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// TestBackendConfigAny configures every backend the hostfile can (jaccl
// only with RDMA devices listed), and refuses names MLX does not have and
// ranks beyond the hostfile.
func TestBackendConfigAny(t *testing.T) {
	plain := []Host{{SSH: "a", IPs: []string{"10.0.0.1"}}, {SSH: "b", IPs: []string{"10.0.0.2"}}}
	cfg, err := BackendConfig("any", plain, 1, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Files["MLX_HOSTFILE"] == nil || cfg.Env["NCCL_HOST_IP"] != "10.0.0.1" || cfg.Env["MLX_RANK"] != "1" || cfg.Files["MLX_IBV_DEVICES"] != nil {
		t.Errorf("any without RDMA: %v %v", cfg.Env, slicesOf(cfg.Files))
	}
	rdma := []Host{
		{SSH: "a", IPs: []string{"10.0.0.1"}, RDMA: []json.RawMessage{json.RawMessage("null"), json.RawMessage(`"en3"`)}},
		{SSH: "b", IPs: []string{"10.0.0.2"}, RDMA: []json.RawMessage{json.RawMessage(`"en3"`), json.RawMessage("null")}},
	}
	cfg, err = BackendConfig("any", rdma, 0, 5000)
	if err != nil || !sameJSON(cfg.Files["MLX_IBV_DEVICES"], []byte(`[[null,"en3"],["en3",null]]`)) || cfg.Env["MLX_JACCL_COORDINATOR"] != "10.0.0.1:5000" {
		t.Errorf("any with RDMA: %v %v, %v", cfg.Env, slicesOf(cfg.Files), err)
	}
	if _, err := BackendConfig("mpi", plain, 0, 5000); err == nil || !strings.Contains(err.Error(), "ring, jaccl, nccl, any") {
		t.Errorf("mpi: %v, want the choices named", err)
	}
	if _, err := BackendConfig("ring", plain, 2, 5000); !errors.Is(err, ErrHostfile) {
		t.Errorf("rank 2 of 2 hosts: %v", err)
	}
}

// TestConfigUse writes a configuration's files and points its variables at
// them, as metal.DistInit reads them.
func TestConfigUse(t *testing.T) {
	for _, v := range []string{"MLX_RANK", "MLX_IBV_DEVICES", "MLX_JACCL_COORDINATOR"} {
		t.Setenv(v, "")
	}
	rdma := []Host{
		{SSH: "a", IPs: []string{"10.0.0.1"}, RDMA: []json.RawMessage{json.RawMessage("null"), json.RawMessage(`"en3"`)}},
		{SSH: "b", IPs: []string{"10.0.0.2"}, RDMA: []json.RawMessage{json.RawMessage(`"en3"`), json.RawMessage("null")}},
	}
	if err := UseBackend("jaccl", rdma, 1, 6000, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Getenv("MLX_IBV_DEVICES"))
	if err != nil || !sameJSON(b, []byte(`[[null,"en3"],["en3",null]]`)) {
		t.Errorf("MLX_IBV_DEVICES file: %s, %v", b, err)
	}
	if os.Getenv("MLX_RANK") != "1" || os.Getenv("MLX_JACCL_COORDINATOR") != "10.0.0.1:6000" {
		t.Errorf("MLX_RANK=%q MLX_JACCL_COORDINATOR=%q", os.Getenv("MLX_RANK"), os.Getenv("MLX_JACCL_COORDINATOR"))
	}
}
