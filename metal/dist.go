package metal

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Shim functions of dist.cpp.
var (
	// int lmx_dist_available(const char* backend, int32_t* ok);
	fnDistAvailable uintptr
	// int lmx_dist_init(lmx_group* out, int32_t strict, const char* backend);
	fnDistInit uintptr
	// int lmx_dist_clear(void);
	fnDistClear uintptr
	// int lmx_group_free(lmx_group g);
	fnGroupFree uintptr
	// int lmx_group_info(lmx_group g, int32_t* rank, int32_t* size);
	fnGroupInfo uintptr
	// int lmx_group_split(lmx_group* out, lmx_group g, int32_t color, int32_t key);
	fnGroupSplit uintptr
	// int lmx_collective(lmx_array* out, int32_t op, lmx_array x, lmx_group g);
	fnCollective uintptr
	// int lmx_send(lmx_array* out, lmx_array x, int32_t dst, lmx_group g);
	fnSend uintptr
	// int lmx_recv(lmx_array* out, const int32_t* shape, int64_t ndim, int32_t dtype, int32_t src, lmx_group g);
	fnRecv uintptr
)

var distSyms = []sym{
	{"lmx_dist_available", &fnDistAvailable}, {"lmx_dist_init", &fnDistInit},
	{"lmx_dist_clear", &fnDistClear}, {"lmx_group_free", &fnGroupFree},
	{"lmx_group_info", &fnGroupInfo}, {"lmx_group_split", &fnGroupSplit},
	{"lmx_collective", &fnCollective}, {"lmx_send", &fnSend}, {"lmx_recv", &fnRecv},
}

func loadDist(lib uintptr) error { return bindSyms(lib, distSyms) }

// Op codes of lmx_collective.
const (
	opAllSum = iota
	opAllGather
	opAllMax
	opAllMin
)

// ErrNoGroup marks a distributed call without a usable group.
var ErrNoGroup = errors.New("metal: no distributed group")

// Group is a set of MLX processes joined by a distributed backend (ring over
// TCP, jaccl over Thunderbolt RDMA, nccl on CUDA). Its collectives are
// operations of the graph: they run when their result is evaluated, on every
// rank in the same order. Everything here runs on the MLX thread.
type Group struct {
	h          uintptr
	rank, size int
}

// Rank is this process's place in the group (0-based).
func (g *Group) Rank() int { return g.rank }

// Size is the number of processes in the group.
func (g *Group) Size() int { return g.size }

// DistAvailable reports whether MLX was built with the backend ("ring",
// "jaccl", "nccl", "mpi", or "any").
func DistAvailable(backend string) (bool, error) {
	mustInDo()
	var ok int32
	b := cString(backend)
	if r := call(fnDistAvailable, uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&ok))); !status(r) {
		return false, lastError("dist_available")
	}
	return ok != 0, nil
}

// Backends of MLX's distributed layer that DistInit takes.
const (
	BackendRing  = "ring"  // TCP, every build
	BackendJaccl = "jaccl" // Thunderbolt RDMA, macOS builds
	BackendNCCL  = "nccl"  // NVIDIA GPUs, CUDA builds
	BackendAny   = "any"   // the first one MLX finds configured
)

// backendNeeds is the environment each backend reads (as mlx.launch sets it).
var backendNeeds = map[string][]string{
	BackendRing:  {"MLX_RANK", "MLX_HOSTFILE"},
	BackendJaccl: {"MLX_RANK", "MLX_IBV_DEVICES", "MLX_JACCL_COORDINATOR"},
	BackendNCCL:  {"MLX_RANK", "MLX_WORLD_SIZE", "NCCL_HOST_IP", "NCCL_PORT"},
}

// backendHint says what a build needs to have the backend.
var backendHint = map[string]string{
	BackendJaccl: "jaccl needs MLX's macOS build (Thunderbolt 5 RDMA)",
	BackendNCCL:  "nccl needs MLX's CUDA build and NVIDIA GPUs",
}

// ErrNoBackend marks a backend the loaded MLX library was built without:
// asking again cannot help.
var ErrNoBackend = errors.New("distributed backend not in this MLX build")

// DistInit joins the group the backend's configuration describes (the
// environment mlx.launch sets: for "ring", MLX_RANK and MLX_HOSTFILE, a JSON
// list, one entry per rank, of "host:port" addresses; for "jaccl",
// MLX_RANK, MLX_IBV_DEVICES and MLX_JACCL_COORDINATOR; for "nccl", MLX_RANK,
// MLX_WORLD_SIZE, NCCL_HOST_IP and NCCL_PORT). It blocks until every rank
// has connected (for ring, without a time limit), so it may run on any
// goroutine, inside Do or outside it: a join that waits must not hold up the
// models the MLX thread serves meanwhile. It touches no arrays or streams.
// Strict: a backend this build lacks or a missing configuration is an error
// at once (CheckBackend), never a silent group of one or a wait.
func DistInit(backend string) (*Group, error) {
	if err := CheckBackend(backend); err != nil {
		return nil, fmt.Errorf("join the %s group: %w", backend, err)
	}
	// MLX's backends write to sockets from MLX's own threads; a peer that
	// went away must make those writes fail (EPIPE, then an MLX error), not
	// end this process with SIGPIPE, which is what a signal on a thread Go
	// did not start does.
	signal.Ignore(syscall.SIGPIPE)
	// Not through call: its argument slots belong to the MLX thread. The
	// shim's last error is per thread: read it on this one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := cString(backend)
	defer runtime.KeepAlive(b)
	var h uintptr
	var rank, size int32
	if r, _, _ := purego.SyscallN(fnDistInit, uintptr(unsafe.Pointer(&h)), 1, uintptr(unsafe.Pointer(&b[0]))); !status(r) {
		return nil, fmt.Errorf("join the %s group: %w", backend, threadError("dist_init"))
	}
	if r, _, _ := purego.SyscallN(fnGroupInfo, h, uintptr(unsafe.Pointer(&rank)), uintptr(unsafe.Pointer(&size))); !status(r) {
		err := threadError("group_info")
		purego.SyscallN(fnGroupFree, h)
		return nil, err
	}
	return &Group{h: h, rank: int(rank), size: int(size)}, nil
}

// CheckBackend reports, at once, why DistInit(backend) cannot join: the
// loaded MLX library lacks the backend (ErrNoBackend, naming what it needs),
// or a variable of its configuration is not set. Any goroutine.
func CheckBackend(backend string) error {
	if !Loaded() {
		return ErrNotLoaded
	}
	if hint := backendHint[backend]; hint != "" {
		ok, err := backendAvailable(backend)
		if err != nil {
			return err
		}
		if !ok {
			return noBackendError{&Error{Op: "dist_init",
				Msg: fmt.Sprintf("the MLX library in %s has no %s backend: %s; use the ring backend (TCP) instead", LibDir(), backend, hint)}}
		}
	}
	return checkBackendEnv(backend)
}

// noBackendError is an MLX error that is also ErrNoBackend.
type noBackendError struct{ err *Error }

func (e noBackendError) Error() string { return e.err.Error() }

// Is makes errors.Is true for ErrNoBackend and ErrMLX.
func (e noBackendError) Is(target error) bool { return target == ErrNoBackend || target == ErrMLX }

// backendAvailable is DistAvailable off the MLX thread (it touches no
// streams); the shim's last error is per thread, so it locks this one.
func backendAvailable(backend string) (bool, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := cString(backend)
	var ok int32
	r, _, _ := purego.SyscallN(fnDistAvailable, uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&ok)))
	runtime.KeepAlive(b)
	if !status(r) {
		return false, threadError("dist_available")
	}
	return ok != 0, nil
}

// threadError is lastError for a shim call made off the MLX thread, on the
// locked calling thread.
func threadError(op string) error {
	r, _, _ := purego.SyscallN(fnLastError)
	return &Error{Op: op, Msg: goString(r)}
}

// checkBackendEnv reports a variable the backend reads that is not set.
func checkBackendEnv(backend string) error {
	for _, v := range backendNeeds[backend] {
		if os.Getenv(v) == "" {
			return &Error{Op: "dist_init", Msg: fmt.Sprintf("the %s backend needs %s (the %s variables mlx.launch sets: %s)",
				backend, v, backend, strings.Join(backendNeeds[backend], ", "))}
		}
	}
	return nil
}

// DistReset forgets initialized backends, so that a later DistInit joins a
// new group (after a rank was lost).
func DistReset() error {
	mustInDo()
	if r := call(fnDistClear); !status(r) {
		return lastError("dist_clear")
	}
	return nil
}

func newGroup(h uintptr) (*Group, error) {
	var rank, size int32
	if r := call(fnGroupInfo, h, uintptr(unsafe.Pointer(&rank)), uintptr(unsafe.Pointer(&size))); !status(r) {
		err := lastError("group_info")
		call(fnGroupFree, h)
		return nil, err
	}
	return &Group{h: h, rank: int(rank), size: int(size)}, nil
}

// Split makes subgroups: ranks passing the same color form one, ordered by
// key (negative: by rank). The ring backend cannot split.
func (g *Group) Split(color, key int) (*Group, error) {
	mustInDo()
	if g == nil || g.h == 0 {
		return nil, ErrNoGroup
	}
	if r := call(fnGroupSplit, outp(), g.h, uintptr(int32(color)), uintptr(int32(key))); !status(r) {
		return nil, lastError("group_split")
	}
	return newGroup(outSlots[0])
}

// Free releases the handle (the backend stays initialized).
func (g *Group) Free() {
	mustInDo()
	if g != nil && g.h != 0 {
		call(fnGroupFree, g.h)
		g.h = 0
	}
}

func collective(op int, name string, x *Array, g *Group) *Array {
	if !usable(x) {
		return &Array{}
	}
	if g == nil || g.h == 0 {
		fail(ErrNoGroup)
		return &Array{}
	}
	return ret(name, call(fnCollective, outp(), uintptr(op), x.h, g.h))
}

// AllSum returns the elementwise sum of x over the group's ranks.
func AllSum(x *Array, g *Group) *Array { return collective(opAllSum, "all_sum", x, g) }

// AllGather concatenates every rank's x along the first axis, in rank order.
func AllGather(x *Array, g *Group) *Array { return collective(opAllGather, "all_gather", x, g) }

// AllMax returns the elementwise maximum of x over the group's ranks.
func AllMax(x *Array, g *Group) *Array { return collective(opAllMax, "all_max", x, g) }

// AllMin returns the elementwise minimum of x over the group's ranks.
func AllMin(x *Array, g *Group) *Array { return collective(opAllMin, "all_min", x, g) }

// Send sends x to rank dst when the result is evaluated (the ring backend
// reaches only its neighbours, rank±1 around the ring).
func Send(x *Array, dst int, g *Group) *Array {
	if !usable(x) {
		return &Array{}
	}
	if g == nil || g.h == 0 {
		fail(ErrNoGroup)
		return &Array{}
	}
	return ret("send", call(fnSend, outp(), x.h, uintptr(int32(dst)), g.h))
}

// Recv receives an array of the given shape and dtype from rank src.
func Recv(shape []int, dt Dtype, src int, g *Group) *Array {
	mustInDo()
	if g == nil || g.h == 0 {
		fail(ErrNoGroup)
		return &Array{}
	}
	s := ints32(shape)
	r := call(fnRecv, outp(), uintptr(unsafe.Pointer(unsafe.SliceData(s))), uintptr(len(s)),
		uintptr(dt), uintptr(int32(src)), g.h)
	return ret("recv", r)
}
