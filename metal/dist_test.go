package metal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/disttest"
)

// collectives is what one rank of TestRingCollectives computed.
type collectives struct {
	Rank, Size             int
	Sum, Gather, Max, Recv []float32
	LostPeer               string // rank 0: the error once rank 1 is gone
	AfterLoss              []float32
}

// TestRingCollectives runs MLX's ring backend over localhost with 2 and 4
// processes: every rank must see the same all_sum, all_gather and all_max,
// receive what its neighbour sent, and, once a peer is gone, get an error
// from the next collective (not hang, not crash) and go on computing.
func TestRingCollectives(t *testing.T) {
	requireMLX(t)
	if _, ok := disttest.Rank(); ok {
		ringRank(t)
		return
	}
	for _, n := range []int{2, 4} {
		outs := disttest.Run(t, t.Name(), n, disttest.Deadline)
		for r, b := range outs {
			var c collectives
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatalf("rank %d: %v", r, err)
			}
			var sum, maxv float32
			var gather []float32
			for i := range n {
				v := rankValues(i)
				sum += v[0]
				maxv = max(maxv, v[0])
				gather = append(gather, v...)
			}
			want := collectives{Rank: r, Size: n, Sum: []float32{sum, 2 * sum, 3 * sum},
				Gather: gather, Max: []float32{maxv, 2 * maxv, 3 * maxv}, Recv: rankValues((r + n - 1) % n)}
			if c.Rank != want.Rank || c.Size != want.Size || !slices.Equal(c.Sum, want.Sum) ||
				!slices.Equal(c.Gather, want.Gather) || !slices.Equal(c.Max, want.Max) || !slices.Equal(c.Recv, want.Recv) {
				t.Errorf("%d ranks, rank %d computed\n%+v\nwant\n%+v", n, r, c, want)
			}
			if r == 0 {
				if !strings.Contains(c.LostPeer, "ring") {
					t.Errorf("%d ranks: rank 0's collective after rank 1 left: %q, want the ring's error", n, c.LostPeer)
				}
				if !slices.Equal(c.AfterLoss, []float32{2, 4, 6}) {
					t.Errorf("%d ranks: rank 0 after the loss computed %v, want [2 4 6]", n, c.AfterLoss)
				}
			}
		}
	}
}

// rankValues is what rank r contributes.
func rankValues(r int) []float32 {
	v := float32(r + 1)
	return []float32{v, 2 * v, 3 * v}
}

// ringRank is one rank's part of TestRingCollectives.
func ringRank(t *testing.T) {
	var c collectives
	var g *Group
	do(t, func() error {
		var err error
		if g, err = DistInit("ring"); err != nil {
			return err
		}
		r, n := g.Rank(), g.Size()
		c.Rank, c.Size = r, n
		x := FromFloat32(rankValues(r), 3)
		c.Sum = floats(t, AllSum(x, g))
		c.Gather = floats(t, AllGather(x, g))
		c.Max = floats(t, AllMax(x, g))
		// Around the ring: even ranks send first, odd ranks receive first.
		next, prev := (r+1)%n, (r+n-1)%n
		if r%2 == 0 {
			if err := Eval(Send(x, next, g)); err != nil {
				return err
			}
			c.Recv = floats(t, Recv([]int{3}, Float32, prev, g))
		} else {
			c.Recv = floats(t, Recv([]int{3}, Float32, prev, g))
			if err := Eval(Send(x, next, g)); err != nil {
				return err
			}
		}
		// Everyone is done with the collectives before rank 1 leaves.
		return Eval(AllSum(x, g))
	})
	switch g.Rank() {
	case 1:
		if err := disttest.Write(c); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // rank 0 has read the last sum
		os.Exit(0)                         // a peer that vanishes without a goodbye
	case 0:
		// The failed evaluation is this Do call's error; the next call
		// starts clean.
		requireMLX(t)
		lost := Do(context.Background(), func() error {
			return Eval(AllSum(FromFloat32(rankValues(0), 3), g))
		})
		if lost == nil {
			t.Fatal("all_sum succeeded with rank 1 gone")
		}
		c.LostPeer = lost.Error()
		do(t, func() error {
			c.AfterLoss = floats(t, MulScalar(FromFloat32(rankValues(0), 3), 2))
			return nil
		})
	}
	do(t, func() error { g.Free(); return nil })
	if err := disttest.Write(c); err != nil {
		t.Fatal(err)
	}
}

// TestDistInitStrict: a backend that is missing or not configured is an
// error naming what is missing, never a silent group of one.
func TestDistInitStrict(t *testing.T) {
	if _, ok := disttest.Rank(); ok {
		return
	}
	for _, v := range []string{"MLX_HOSTFILE", "MLX_RANK"} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	do(t, func() error {
		ok, err := DistAvailable("ring")
		if err != nil || !ok {
			t.Errorf("ring available = %v, %v; the CPU build has it", ok, err)
		}
		for backend, want := range map[string]string{"ring": "MLX_HOSTFILE", "nosuch": "nosuch"} {
			g, err := DistInit(backend)
			if err == nil {
				t.Errorf("DistInit(%q) joined a group of %d without a configuration", backend, g.Size())
				g.Free()
				continue
			}
			if !errors.Is(err, ErrMLX) || !strings.Contains(err.Error(), want) {
				t.Errorf("DistInit(%q) = %v, want an MLX error naming %s", backend, err, want)
			}
		}
		return nil
	})
}
