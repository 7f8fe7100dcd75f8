// Package group runs one model across the processes of an MLX distributed
// group (several Macs linked by Thunderbolt or Ethernet, or GPUs of one
// host): rank 0, the leader, serves HTTP and runs the scheduler; the other
// ranks follow it. The leader's messages (load this model, take this step,
// unload) travel over the group itself, as collectives ordered with the
// model's own, so a follower can never take a step its leader did not.
package group

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/model"
	"github.com/lmx-app/lmx/metal"
)

// ErrLeaderGone ends a follower whose leader said goodbye.
var ErrLeaderGone = errors.New("the leader closed the group")

// ErrNotReady marks a load for the group while it is not formed.
var ErrNotReady = errors.New("the group of machines is not ready")

// ErrGroupLost marks work that failed because the group lost a rank (a
// process ended or became unreachable); the group must form again.
var ErrGroupLost = errors.New("the model's group of machines lost a rank")

// message is one instruction from the leader.
type message struct {
	Op string `json:"op"` // "load", "step", "unload", "close"
	// Key names the model in the group (the leader's folder path).
	Key   string              `json:"key"`
	Name  string              `json:"name,omitempty"` // library name, for a follower to find its copy
	Split arch.Split          `json:"split,omitempty"`
	Step  *generate.StepInput `json:"step,omitempty"`
	// Limits are the leader scheduler's batch limits, which a follower's
	// must share to take the same steps.
	Limits *Limits `json:"limits,omitempty"`
}

// Limits are the scheduler settings that shape its steps.
type Limits struct {
	MaxSequences     int   `json:"max_sequences"`
	MaxBatchTokens   int   `json:"max_batch_tokens"`
	PrefixCacheBytes int64 `json:"prefix_cache_bytes"`
}

// broadcast sends the leader's bytes to every rank and returns them there:
// an all_sum to which the other ranks add zeros, which is exact. Followers
// pass nil. MLX thread.
func broadcast(g *metal.Group, data []byte) ([]byte, error) {
	n := int32(len(data))
	if g.Rank() != 0 {
		n = 0
	}
	size := metal.AllSum(metal.FromInt32([]int32{n}, 1), g)
	got, err := size.Int32s()
	if err != nil {
		return nil, fmt.Errorf("group message: %w", err)
	}
	n = got[0]
	if n == 0 {
		return nil, nil
	}
	words := make([]int32, (n+3)/4) // zeros from the followers
	if g.Rank() == 0 {
		words = toWords(data)
	}
	sum, err := metal.AllSum(metal.FromInt32(words, len(words)), g).Int32s()
	if err != nil {
		return nil, fmt.Errorf("group message: %w", err)
	}
	return fromWords(sum)[:n], nil
}

// toWords packs b into int32 words (little-endian, zero-padded), the form
// the collectives carry bytes in.
func toWords(b []byte) []int32 {
	words := make([]int32, (len(b)+3)/4)
	padded := append(append([]byte(nil), b...), make([]byte, len(words)*4-len(b))...)
	for i := range words {
		words[i] = int32(binary.LittleEndian.Uint32(padded[i*4:]))
	}
	return words
}

// fromWords unpacks toWords' words.
func fromWords(words []int32) []byte {
	b := make([]byte, len(words)*4)
	for i, w := range words {
		binary.LittleEndian.PutUint32(b[i*4:], uint32(w))
	}
	return b
}

// gather concatenates every rank's words in rank order: an all_sum in
// which each rank fills its own slot and leaves zeros in the others, which
// is exact, and which every backend has (nccl has no all_gather). MLX thread.
func gather(g *metal.Group, words []int32) ([]int32, error) {
	all := make([]int32, len(words)*g.Size())
	copy(all[g.Rank()*len(words):], words)
	return metal.AllSum(metal.FromInt32(all, len(all)), g).Int32s()
}

// errBytes is the room each rank has for its error in gatherErrors.
const errBytes = 512

// gatherErrors shares every rank's outcome of a step all ranks took (such
// as a load) and returns the first failure, naming its rank, on every rank;
// comm is the gathering's own failure (the group is lost).
func gatherErrors(g *metal.Group, mine error) (failed, comm error) {
	buf := make([]byte, errBytes)
	if mine != nil {
		copy(buf, mine.Error())
	}
	words := toWords(buf)
	all, err := gather(g, words)
	if err != nil {
		return nil, err
	}
	gathered := fromWords(all)
	for r := range g.Size() {
		b := gathered[r*errBytes : (r+1)*errBytes]
		if msg := strings.TrimRight(string(b), "\x00"); msg != "" {
			if r == g.Rank() && mine != nil {
				return mine, nil
			}
			return fmt.Errorf("rank %d: %s", r, msg), nil
		}
	}
	return nil, nil
}

// Leader is rank 0's side of the group. Once a collective failed, or a
// wait on the group outlived its deadline, the group is lost: everything
// after fails at once with ErrGroupLost (a ring with a rank missing could
// otherwise block).
type Leader struct {
	g        *metal.Group
	deadline time.Duration
	dog      *watchdog

	mu     sync.Mutex
	lost   error
	onLost func(error)
}

// LeaderOptions configure a Leader.
type LeaderOptions struct {
	// OnLost (may be nil) is called once when the group is found lost,
	// from the goroutine that found it (the MLX thread's, a request's or
	// the watchdog's): it must not block.
	OnLost func(error)
	// Deadline bounds each step and message of the group: a rank that
	// does not answer within it is given up (0: DefaultDeadline; negative:
	// no bound). A load waits ten times as long for the slowest rank.
	Deadline time.Duration
}

// NewLeader wraps rank 0's group.
func NewLeader(g *metal.Group, opts LeaderOptions) (*Leader, error) {
	if g == nil || g.Rank() != 0 {
		return nil, errors.New("group: the leader is rank 0")
	}
	l := &Leader{g: g, onLost: opts.OnLost, deadline: opts.Deadline}
	if l.deadline == 0 {
		l.deadline = DefaultDeadline
	}
	if l.deadline > 0 {
		l.dog = &watchdog{limit: l.deadline, fire: l.hung}
	}
	return l, nil
}

// Lost returns the error that lost the group, or nil while it works.
func (l *Leader) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// Fail records that the group's work failed with err (an MLX error of a
// collective: a rank is gone) and returns err wrapped in ErrGroupLost; once
// the group is lost, it returns the first cause (a collective unblocked by
// the watchdog fails with a lost peer, but the cause is the silent rank).
func (l *Leader) Fail(err error) error {
	if errors.Is(err, ErrGroupLost) {
		return err
	}
	l.mu.Lock()
	if l.lost != nil {
		defer l.mu.Unlock()
		return l.lost
	}
	lost := fmt.Errorf("%w: %v", ErrGroupLost, err)
	l.lost = lost
	fn := l.onLost
	l.mu.Unlock()
	if fn != nil {
		fn(lost)
	}
	return lost
}

// Group returns the group.
func (l *Leader) Group() *metal.Group { return l.g }

// send broadcasts m to the followers; a step's broadcast is timed with the
// rest of the step (lockstep.Send), any other under the deadline.
func (l *Leader) send(m message) error {
	if err := l.Lost(); err != nil {
		return err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	bcast := func() error { _, err := broadcast(l.g, b); return err }
	if m.Op == "step" {
		l.dog.stepBegun()
		err = bcast()
	} else {
		err = l.dog.guard("the message "+strconv.Quote(m.Op), l.deadline, bcast)
	}
	if err != nil {
		return l.Fail(err)
	}
	return nil
}

// Load loads dir across the group: every follower loads its part of its
// own copy (found by name when the path differs there) and the leader its
// own; any rank failing fails the load on all. serving is the leader
// scheduler's options: the followers' schedulers take its batch limits and
// prefix cache size. MLX thread.
func (l *Leader) Load(dir, name string, split arch.Split, serving generate.SchedulerOptions) (arch.Model, *model.Config, error) {
	limits := &Limits{MaxSequences: serving.MaxSequences, MaxBatchTokens: serving.MaxBatchTokens,
		PrefixCacheBytes: serving.PrefixCacheBytes}
	if err := l.send(message{Op: "load", Key: dir, Name: name, Split: split, Limits: limits}); err != nil {
		return nil, nil, err
	}
	m, cfg, err := arch.LoadParallel(dir, arch.Parallel{Group: l.g, Split: split})
	var gerr, comm error
	comm = l.dog.guard("a load (waiting for every rank to read its weights)", loadFactor*l.deadline, func() error {
		gerr, comm = gatherErrors(l.g, err)
		return comm
	})
	if comm != nil {
		gerr = l.Fail(comm)
	}
	if gerr != nil {
		if m != nil {
			arch.FreeModel(m)
		}
		return nil, nil, fmt.Errorf("load across the group: %w", gerr)
	}
	return m, cfg, nil
}

// RankStats is one rank's memory as MLX counts it.
type RankStats struct {
	Rank        int   `json:"rank"`
	ActiveBytes int64 `json:"active_bytes"`
	PeakBytes   int64 `json:"peak_bytes"`
}

// Stats gathers every rank's MLX memory. MLX thread.
func (l *Leader) Stats() ([]RankStats, error) {
	if err := l.send(message{Op: "stats"}); err != nil {
		return nil, err
	}
	var out []RankStats
	err := l.dog.guard("a memory report", l.deadline, func() error {
		var err error
		out, err = gatherStats(l.g)
		return err
	})
	if err != nil {
		return nil, l.Fail(err)
	}
	return out, nil
}

// gatherStats is every rank's part of Stats.
func gatherStats(g *metal.Group) ([]RankStats, error) {
	mine := binary.LittleEndian.AppendUint64(nil, uint64(metal.ActiveMemory()))
	mine = binary.LittleEndian.AppendUint64(mine, uint64(metal.PeakMemory()))
	words := toWords(mine)
	all, err := gather(g, words)
	if err != nil {
		return nil, err
	}
	b := fromWords(all)
	out := make([]RankStats, g.Size())
	for r := range out {
		at := b[r*len(mine):]
		out[r] = RankStats{Rank: r, ActiveBytes: int64(binary.LittleEndian.Uint64(at)), PeakBytes: int64(binary.LittleEndian.Uint64(at[8:]))}
	}
	return out, nil
}

// benchBytes is what Bench sums across the group per round.
const benchBytes = 16 << 20

// Bench measures the group's link: the all_sum of 16 MiB, three rounds
// after a warm-up; it returns the median round's seconds and the bytes
// summed per round. MLX thread.
func (l *Leader) Bench() (seconds float64, bytes int, err error) {
	if err := l.send(message{Op: "bench"}); err != nil {
		return 0, 0, err
	}
	var secs float64
	err = l.dog.guard("a link measurement", l.deadline, func() error {
		var err error
		secs, err = benchRounds(l.g)
		return err
	})
	if err != nil {
		return 0, 0, l.Fail(err)
	}
	return secs, benchBytes, nil
}

// benchRounds is every rank's part of Bench.
func benchRounds(g *metal.Group) (float64, error) {
	x := metal.Full([]int{benchBytes / 4}, 1, metal.Float32)
	if err := metal.Eval(x); err != nil {
		return 0, err
	}
	var rounds []float64
	for i := range 4 {
		start := time.Now()
		if err := metal.Eval(metal.AllSum(x, g)); err != nil {
			return 0, err
		}
		if i > 0 {
			rounds = append(rounds, time.Since(start).Seconds())
		}
	}
	slices.Sort(rounds)
	return rounds[len(rounds)/2], nil
}

// Unload tells the followers to free the model. MLX thread.
func (l *Leader) Unload(key string) error { return l.send(message{Op: "unload", Key: key}) }

// Close tells the followers the group is over. MLX thread.
func (l *Leader) Close() error { return l.send(message{Op: "close"}) }

// Lockstep returns the scheduler hook that sends the model's steps.
func (l *Leader) Lockstep(key string) generate.Lockstep { return lockstep{l: l, key: key} }

type lockstep struct {
	l   *Leader
	key string
}

// Send implements generate.Lockstep.
func (s lockstep) Send(in *generate.StepInput) error {
	return s.l.send(message{Op: "step", Key: s.key, Step: in})
}

// Resolve finds a follower's copy of the leader's model: the same path, or
// the library's folder of the same name.
type Resolve func(name, leaderDir string) (string, error)

// Follow runs a follower rank: it loads and unloads what the leader does
// and takes every step the leader takes, until the leader closes the group
// (ErrLeaderGone), the group fails (the leader or another rank is lost) or
// ctx ends between messages. Everything it loaded is freed on return.
func Follow(ctx context.Context, g *metal.Group, resolve Resolve) error {
	type loaded struct {
		m     arch.Model
		sched *generate.Scheduler
	}
	models := map[string]*loaded{}
	defer func() {
		_ = metal.Do(context.Background(), func() error {
			for _, l := range models {
				arch.FreeModel(l.m)
			}
			return nil
		})
	}()
	for ctx.Err() == nil {
		err := metal.Do(context.Background(), func() error {
			b, err := broadcast(g, nil)
			if err != nil {
				return err
			}
			var msg message
			if err := json.Unmarshal(b, &msg); err != nil {
				return fmt.Errorf("group: bad message from the leader: %w", err)
			}
			switch msg.Op {
			case "close":
				return ErrLeaderGone
			case "load":
				var lerr error
				var m arch.Model
				var cfg *model.Config
				dir, lerr := resolve(msg.Name, msg.Key)
				if lerr == nil {
					m, cfg, lerr = arch.LoadParallel(dir, arch.Parallel{Group: g, Split: msg.Split})
				}
				failed, comm := gatherErrors(g, lerr)
				if comm != nil || failed != nil {
					if m != nil {
						arch.FreeModel(m)
					}
					return comm // a failed load the leader reports; this rank goes on following
				}
				var opts generate.SchedulerOptions
				if msg.Limits != nil {
					opts.MaxSequences, opts.MaxBatchTokens = msg.Limits.MaxSequences, msg.Limits.MaxBatchTokens
					opts.PrefixCacheBytes = msg.Limits.PrefixCacheBytes
				}
				models[msg.Key] = &loaded{m: m, sched: generate.NewFollower(m, cfg.Language().VocabSize, opts)}
			case "stats":
				_, err := gatherStats(g)
				return err
			case "bench":
				_, err := benchRounds(g)
				return err
			case "unload":
				if l := models[msg.Key]; l != nil {
					arch.FreeModel(l.m)
					delete(models, msg.Key)
				}
			case "step":
				l := models[msg.Key]
				if l == nil || msg.Step == nil {
					return fmt.Errorf("group: a step for %q, which this rank has not loaded", msg.Key)
				}
				return l.sched.Follow(msg.Step)
			default:
				return fmt.Errorf("group: unknown message %q from the leader", msg.Op)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}
