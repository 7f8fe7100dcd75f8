package app

import (
	"context"
	"fmt"
	"log"
	"slices"
	"sync"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/engine/group"
	"github.com/lmx-app/lmx/internal/safe"
	"github.com/lmx-app/lmx/metal"
)

// GroupConfig makes this process rank 0, the leader, of a group of machines
// that run models split across them (lmx serve --hosts): the hosts of an
// mlx.launch hostfile, rank r reached at its first IP on Port + r (ring; the
// other backends meet at rank 0's IP and Port), MLX's backend (ring when
// empty), how long a step may wait for the group (0: the default), and the
// models to split (library ids or their last element; none: every model).
type GroupConfig struct {
	HostsFile   string
	Hosts       []group.Host
	Port        int
	Backend     string
	Deadline    time.Duration
	SplitModels []string
}

// backend is the configured backend, ring by default.
func (c GroupConfig) backend() string {
	if c.Backend == "" {
		return metal.BackendRing
	}
	return c.Backend
}

// Group states.
const (
	groupForming = "forming" // waiting for every rank to join
	groupReady   = "ready"
	groupLost    = "lost" // a rank was lost; forming again
)

// cluster is the app's side of its group of machines.
type cluster struct {
	cfg GroupConfig

	mu       sync.Mutex
	state    string
	err      string
	g        *metal.Group
	leader   *group.Leader
	ranks    []group.RankStats
	linkSecs float64
	linkSize int
	formed   int // how many times the group formed
}

// startGroup starts forming the group in the background (the MLX runtime
// is loaded). Joining waits for every rank without a bound, off the MLX
// thread, so the app serves its other models meanwhile.
func (a *App) startGroup() {
	c := a.cluster
	if c == nil {
		return
	}
	err := group.UseBackend(c.cfg.backend(), c.cfg.Hosts, 0, c.cfg.Port, a.cfg.DataDir)
	if err == nil {
		err = metal.CheckBackend(c.cfg.backend())
	}
	if err != nil {
		// A backend this build lacks never forms: say so once, no retries.
		log.Printf("lmx: group: %v", err)
		c.set(groupLost, err.Error())
		return
	}
	safe.Go("form group", a.formGroup)
}

func (c *cluster) set(state, msg string) {
	c.mu.Lock()
	c.state, c.err = state, msg
	c.mu.Unlock()
}

// formGroup joins the group as rank 0 and measures it; retried until it
// forms.
func (a *App) formGroup() {
	c := a.cluster
	for {
		c.mu.Lock()
		if c.formed == 0 {
			c.state, c.err = groupForming, ""
		} // else it stays "lost", with the reason, until the group is back
		c.mu.Unlock()
		a.Publish()
		g, err := metal.DistInit(c.cfg.backend())
		if err == nil {
			err = a.groupFormed(g)
		}
		if err == nil {
			a.Publish()
			return
		}
		log.Printf("lmx: group: %v; trying again", err)
		c.set(groupLost, err.Error())
		a.Publish()
		time.Sleep(2 * time.Second)
	}
}

// groupFormed makes g the app's group: its leader, the link's speed, every
// rank's memory.
func (a *App) groupFormed(g *metal.Group) error {
	c := a.cluster
	leader, err := group.NewLeader(g, group.LeaderOptions{Deadline: c.cfg.Deadline, OnLost: func(err error) {
		safe.Go("regroup", func() { a.regroup(err) })
	}})
	if err != nil {
		return err
	}
	var secs float64
	var size int
	var ranks []group.RankStats
	err = metal.Do(context.Background(), func() error {
		var err error
		if secs, size, err = leader.Bench(); err != nil {
			return err
		}
		ranks, err = leader.Stats()
		return err
	})
	if err != nil {
		_ = metal.Do(context.Background(), func() error { g.Free(); return metal.DistReset() })
		return fmt.Errorf("measure the group: %w", err)
	}
	c.mu.Lock()
	c.state, c.err, c.g, c.leader = groupReady, "", g, leader
	c.ranks, c.linkSecs, c.linkSize = ranks, secs, size
	c.formed++
	c.mu.Unlock()
	log.Printf("lmx: group formed: %d ranks, all_sum of %d MiB in %.1f ms", g.Size(), size>>20, secs*1e3)
	return nil
}

// regroup handles a lost rank: the group's models are unloaded (their
// requests have failed), the group is forgotten and formed again, which
// completes when the missing process is back.
func (a *App) regroup(cause error) {
	c := a.cluster
	c.mu.Lock()
	if c.state != groupReady {
		c.mu.Unlock()
		return
	}
	c.state, c.err = groupLost, cause.Error()
	g := c.g
	c.g, c.leader, c.ranks = nil, nil, nil
	c.mu.Unlock()
	log.Printf("lmx: %v; unloading the group's models and forming the group again", cause)
	a.Publish()
	for _, id := range a.groupModels() {
		_ = a.UnloadModel(context.Background(), id)
	}
	_ = metal.Do(context.Background(), func() error {
		g.Free()
		return metal.DistReset()
	})
	a.formGroup()
}

// groupModels lists the loaded models that are split across the group.
func (a *App) groupModels() []string {
	p := &a.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for id, e := range p.models {
		if e.group {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// splits reports whether the model id loads across the group.
func (a *App) splits(id string) bool {
	c := a.cluster
	if c == nil {
		return false
	}
	return len(c.cfg.SplitModels) == 0 || slices.Contains(c.cfg.SplitModels, id) || slices.Contains(c.cfg.SplitModels, alias(id))
}

// groupWait is how long a load waits for the group to form.
const groupWait = time.Minute

// groupLeader returns the leader and group size to load a split model
// with, or says why it cannot be loaded now. Until the group first forms
// (the ranks are starting, models given at start are loading) it waits up
// to groupWait or ctx; a group that lost a rank answers at once.
func (a *App) groupLeader(ctx context.Context) (*group.Leader, int, error) {
	c := a.cluster
	deadline := time.Now().Add(groupWait)
	for {
		c.mu.Lock()
		wait := c.state == groupForming && c.formed == 0
		c.mu.Unlock()
		if !wait || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != groupReady {
		msg := "waiting for every rank to join"
		if c.err != "" {
			msg = c.err
		}
		return nil, 0, fmt.Errorf("%w (%s, %d hosts in %s): %s", group.ErrNotReady, c.state, len(c.cfg.Hosts), c.cfg.HostsFile, msg)
	}
	return c.leader, c.g.Size(), nil
}

// refreshGroupStats reads every rank's memory again (after a load or an
// unload).
func (a *App) refreshGroupStats() {
	c := a.cluster
	if c == nil {
		return
	}
	c.mu.Lock()
	leader := c.leader
	c.mu.Unlock()
	if leader == nil {
		return
	}
	var ranks []group.RankStats
	err := metal.Do(context.Background(), func() error {
		var err error
		ranks, err = leader.Stats()
		return err
	})
	if err != nil {
		return // a lost group regroups through the leader's onLost
	}
	c.mu.Lock()
	if c.leader == leader {
		c.ranks = ranks
	}
	c.mu.Unlock()
}

// groupStatus is the group as the status shows it; nil without a group.
func (a *App) groupStatus() *api.GroupStatus {
	c := a.cluster
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &api.GroupStatus{State: c.state, Error: c.err, HostsFile: c.cfg.HostsFile, Backend: c.cfg.backend(), Formed: c.formed}
	for r, h := range c.cfg.Hosts {
		rs := api.GroupRank{Rank: r, Host: h.SSH, Address: fmt.Sprintf("%s:%d", h.IPs[0], c.cfg.Port+r)}
		if r < len(c.ranks) {
			rs.ActiveBytes = c.ranks[r].ActiveBytes
			rs.PeakBytes = c.ranks[r].PeakBytes
		}
		st.Ranks = append(st.Ranks, rs)
	}
	if c.linkSecs > 0 {
		st.LinkBytes = c.linkSize
		st.LinkMillis = c.linkSecs * 1e3
		st.LinkGBps = float64(c.linkSize) / c.linkSecs / 1e9
	}
	return st
}
