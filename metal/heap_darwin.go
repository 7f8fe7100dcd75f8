package metal

import (
	"sync"

	"github.com/ebitengine/purego"
)

var (
	heapOnce      sync.Once
	fnPressureRel uintptr
)

// ReleaseHeap asks every malloc zone to give free pages back to the system
// (malloc_zone_pressure_relief). Call it after ClearCache when memory
// should go back; any goroutine.
func ReleaseHeap() {
	heapOnce.Do(func() {
		if loadLibSystem() != nil {
			return
		}
		lib, err := purego.Dlopen("/usr/lib/libSystem.B.dylib", purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			return
		}
		fnPressureRel, _ = purego.Dlsym(lib, "malloc_zone_pressure_relief")
	})
	if fnPressureRel != 0 {
		purego.SyscallN(fnPressureRel, 0, 0) // all zones, as much as possible
	}
}
