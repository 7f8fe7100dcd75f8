// Package disttest runs one test function as the ranks of an MLX ring group
// over localhost: the parent test starts N copies of the test binary, each
// told its rank and the group's hostfile through the environment MLX's ring
// backend reads, and collects what each rank wrote.
package disttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of a rank process.
const (
	envRank = "LMX_DISTTEST_RANK"
	envOut  = "LMX_DISTTEST_OUT"
)

// Rank reports whether this process is a rank started by Run, and which.
func Rank() (int, bool) {
	v, ok := os.LookupEnv(envRank)
	if !ok {
		return 0, false
	}
	r, err := strconv.Atoi(v)
	return r, err == nil
}

// Write stores a rank's result (any JSON value) for the parent to read.
func Write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(os.Getenv(envOut), b, 0o600)
}

// Hostfile writes a ring hostfile of n loopback addresses on free ports, in
// the JSON shape mlx.launch writes (one list of "host:port" per rank).
func Hostfile(t *testing.T, dir string, n int) string {
	t.Helper()
	hosts := make([][]string, n)
	var held []net.Listener
	for i := range hosts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln) // held until all are chosen: n distinct ports
		hosts[i] = []string{ln.Addr().String()}
	}
	for _, ln := range held {
		ln.Close()
	}
	b, _ := json.Marshal(hosts)
	path := filepath.Join(dir, "hosts.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Run starts the test named test (t.Name() form, subtests with "/") as n
// ranks of a ring group and returns each rank's result, rank order. A rank
// that fails, or the group not finishing within limit, fails t with every
// rank's output.
func Run(t *testing.T, test string, n int, limit time.Duration, env ...string) [][]byte {
	t.Helper()
	g := Start(t, test, n, limit, env...)
	return g.Wait()
}

// Group is a running group of test ranks.
type Group struct {
	t        *testing.T
	test     string
	dir      string
	hostfile string
	env      []string
	ctx      context.Context
	cancel   context.CancelFunc
	cmds     []*exec.Cmd
	logs     []*bytes.Buffer
	killed   map[int]bool
}

// Start starts the ranks of Run and returns at once.
func Start(t *testing.T, test string, n int, limit time.Duration, env ...string) *Group {
	t.Helper()
	g := &Group{t: t, test: test, dir: t.TempDir(), env: env, killed: map[int]bool{}}
	g.hostfile = Hostfile(t, g.dir, n)
	g.ctx, g.cancel = context.WithTimeout(context.Background(), limit)
	t.Cleanup(g.cancel)
	g.cmds, g.logs = make([]*exec.Cmd, n), make([]*bytes.Buffer, n)
	for r := range n {
		g.start(r)
	}
	return g
}

// Dir is the folder the ranks' results are written to, which the test can
// also use to pass files between the parent and the ranks.
func (g *Group) Dir() string { return g.dir }

func (g *Group) start(r int) {
	cmd := exec.CommandContext(g.ctx, os.Args[0], "-test.run="+runPattern(g.test), "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), g.env...)
	cmd.Env = append(cmd.Env, "MLX_RANK="+strconv.Itoa(r), "MLX_HOSTFILE="+g.hostfile, "LMX_DISTTEST_DIR="+g.dir,
		envRank+"="+strconv.Itoa(r), envOut+"="+filepath.Join(g.dir, fmt.Sprintf("rank%d.json", r)))
	if g.logs[r] == nil {
		g.logs[r] = &bytes.Buffer{}
	}
	cmd.Stdout, cmd.Stderr = g.logs[r], g.logs[r]
	if err := cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.cmds[r] = cmd
}

// Kill ends rank r at once (SIGKILL: no goodbye to its peers) and reaps it.
func (g *Group) Kill(r int) {
	_ = g.cmds[r].Process.Kill()
	_ = g.cmds[r].Wait()
	g.killed[r] = true
}

// Stop freezes rank r (SIGSTOP): its connections stay open but it answers
// nothing, as a frozen machine or a pulled cable would look to its peers.
// Kill ends a stopped rank too, as does the end of the test.
func (g *Group) Stop(r int) {
	if err := g.cmds[r].Process.Signal(syscall.SIGSTOP); err != nil {
		g.t.Fatalf("stop rank %d: %v", r, err)
	}
}

// Restart starts rank r again (after Kill), with the same rank and hostfile.
func (g *Group) Restart(r int) {
	fmt.Fprintf(g.logs[r], "\n--- restarted ---\n")
	g.start(r)
	delete(g.killed, r)
}

// Wait waits for every rank not killed and returns their results (nil for
// a killed rank); a rank failing fails the test with every rank's output.
func (g *Group) Wait() [][]byte {
	t := g.t
	t.Helper()
	n := len(g.cmds)
	failed := false
	for r, cmd := range g.cmds {
		if g.killed[r] {
			continue
		}
		if err := cmd.Wait(); err != nil {
			failed = true
			t.Errorf("rank %d of %d: %v", r, n, err)
		}
	}
	out := make([][]byte, n)
	for r := range n {
		if g.killed[r] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(g.dir, fmt.Sprintf("rank%d.json", r)))
		if err != nil && !failed {
			failed = true
			t.Errorf("rank %d wrote no result: %v", r, err)
		}
		out[r] = b
	}
	if failed {
		g.Logs()
		t.FailNow()
	}
	return out
}

// Logs logs every rank's output.
func (g *Group) Logs() {
	for r, l := range g.logs {
		g.t.Logf("rank %d output:\n%s", r, tail(l.String(), 6000))
	}
}

// SharedDir is, in a rank, the folder of its group (Group.Dir in the parent).
func SharedDir() string { return os.Getenv("LMX_DISTTEST_DIR") }

// runPattern anchors each level of a test name for -test.run.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// Deadline is how long a group of test ranks may take.
const Deadline = 5 * time.Minute
