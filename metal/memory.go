package metal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Shim functions of memory.cpp. MLX's allocator counters and limits are
// safe to read and set from any thread, so these functions need no Do.
var (
	// int lmx_memory(uint64_t* out);
	fnMemory uintptr
	// int lmx_reset_peak_memory(void);
	fnResetPeakMemory uintptr
	// int lmx_clear_cache(void);
	fnClearCache uintptr
	// int lmx_set_limit(int32_t which, uint64_t bytes, uint64_t* prev);
	fnSetLimit uintptr
	// int lmx_default_device(int32_t* type, int32_t* index);
	fnDefaultDevice uintptr
	// int lmx_set_default_device(int32_t type, int32_t index);
	fnSetDefaultDevice uintptr
	// int lmx_device_available(int32_t type, int32_t index, int32_t* ok);
	fnDeviceAvailable uintptr
	// int lmx_device_info(int32_t type, int32_t index, const char** json);
	fnDeviceInfo uintptr
	// int lmx_synchronize(void);
	fnSynchronize uintptr
)

var memorySyms = []sym{
	{"lmx_memory", &fnMemory}, {"lmx_reset_peak_memory", &fnResetPeakMemory},
	{"lmx_clear_cache", &fnClearCache}, {"lmx_set_limit", &fnSetLimit},
	{"lmx_default_device", &fnDefaultDevice}, {"lmx_set_default_device", &fnSetDefaultDevice},
	{"lmx_device_available", &fnDeviceAvailable}, {"lmx_device_info", &fnDeviceInfo},
	{"lmx_synchronize", &fnSynchronize},
}

func loadMemory(lib uintptr) error { return bindSyms(lib, memorySyms) }

// memory reads active, peak, cache and limit bytes (zeros before Load).
func memory() [4]uint64 {
	var m [4]uint64
	if Loaded() {
		purego.SyscallN(fnMemory, uintptr(unsafe.Pointer(&m[0])))
	}
	return m
}

func toInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// ActiveMemory returns the bytes held by live MLX arrays. Any goroutine.
func ActiveMemory() int64 { return toInt64(memory()[0]) }

// PeakMemory returns the most active memory since the last reset. Any goroutine.
func PeakMemory() int64 { return toInt64(memory()[1]) }

// CacheMemory returns the bytes MLX keeps cached for reuse. Any goroutine.
func CacheMemory() int64 { return toInt64(memory()[2]) }

// MemoryLimit returns the allocation limit MLX applies. Any goroutine.
func MemoryLimit() int64 { return toInt64(memory()[3]) }

// ResetPeakMemory restarts PeakMemory from the current active memory.
func ResetPeakMemory() {
	if Loaded() {
		purego.SyscallN(fnResetPeakMemory)
	}
}

// ClearCache returns MLX's cached buffers to the system.
func ClearCache() {
	if Loaded() {
		purego.SyscallN(fnClearCache)
	}
}

func setLimit(which int, bytes int64) (int64, error) {
	if !Loaded() {
		return 0, ErrNotLoaded
	}
	if bytes < 0 {
		return 0, fmt.Errorf("metal: negative limit %d", bytes)
	}
	// The shim's last error is per thread: read it on the thread that failed.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var prev uint64
	r, _, _ := purego.SyscallN(fnSetLimit, uintptr(which), uintptr(bytes), uintptr(unsafe.Pointer(&prev)))
	if !status(r) {
		return 0, lastError("set_limit")
	}
	return toInt64(prev), nil
}

// SetMemoryLimit sets the allocation limit (MLX then waits for or frees
// memory before exceeding it) and returns the previous one.
func SetMemoryLimit(bytes int64) int64 {
	prev, _ := setLimit(0, bytes)
	return prev
}

// SetCacheLimit bounds MLX's buffer cache and returns the previous bound.
func SetCacheLimit(bytes int64) int64 {
	prev, _ := setLimit(1, bytes)
	return prev
}

// SetWiredLimit sets how much memory Metal keeps wired (resident) and
// returns the previous value; MLX refuses values above the system's
// iogpu.wired_limit_mb. A no-op returning 0 on backends without wiring.
func SetWiredLimit(bytes int64) (int64, error) { return setLimit(2, bytes) }

// DeviceType is MLX's device kind.
type DeviceType int

// Device kinds.
const (
	CPU DeviceType = iota
	GPU
)

// String returns "cpu" or "gpu".
func (t DeviceType) String() string {
	if t == GPU {
		return "gpu"
	}
	return "cpu"
}

// Device names an MLX device.
type Device struct {
	Type  DeviceType
	Index int
}

// DefaultDevice returns the device new ops run on. Must run inside Do.
func DefaultDevice() Device {
	mustInDo()
	var t, i int32
	r, _, _ := purego.SyscallN(fnDefaultDevice, uintptr(unsafe.Pointer(&t)), uintptr(unsafe.Pointer(&i)))
	check("default_device", r)
	return Device{Type: DeviceType(t), Index: int(i)}
}

// SetDefaultDevice makes d the device new ops run on. Must run inside Do.
func SetDefaultDevice(d Device) {
	mustInDo()
	r, _, _ := purego.SyscallN(fnSetDefaultDevice, uintptr(d.Type), uintptr(d.Index))
	check("set_default_device", r)
}

// GPUAvailable reports whether MLX has a GPU backend with a device (Metal or
// CUDA). Any goroutine.
func GPUAvailable() bool {
	if !Loaded() {
		return false
	}
	var ok int32
	r, _, _ := purego.SyscallN(fnDeviceAvailable, uintptr(GPU), 0, uintptr(unsafe.Pointer(&ok)))
	return status(r) && ok != 0
}

// DeviceInfo returns what MLX reports about the default device (e.g.
// device_name, architecture, memory_size, max_recommended_working_set_size);
// numbers are int64. Must run inside Do.
func DeviceInfo() (map[string]any, error) {
	d := DefaultDevice()
	var p uintptr
	r, _, _ := purego.SyscallN(fnDeviceInfo, uintptr(d.Type), uintptr(d.Index), uintptr(unsafe.Pointer(&p)))
	if !status(r) {
		return nil, lastError("device_info")
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(goString(p))))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("device info: %w", err)
	}
	for k, v := range raw {
		if n, ok := v.(json.Number); ok {
			i, err := n.Int64()
			if err != nil {
				return nil, fmt.Errorf("device info %s: %w", k, err)
			}
			raw[k] = i
		}
	}
	return raw, nil
}

// Synchronize waits for all scheduled work on the default stream. Must run
// inside Do.
func Synchronize() {
	mustInDo()
	r, _, _ := purego.SyscallN(fnSynchronize)
	check("synchronize", r)
}
