package metal

import (
	"sync"

	"github.com/ebitengine/purego"
)

var (
	heapOnce     sync.Once
	fnMallocTrim uintptr
)

// ReleaseHeap hands the C heap's free pages back to the system (glibc's
// malloc_trim): MLX's CPU backend frees its buffers to malloc, which keeps
// them mapped. Call it after ClearCache when memory should go back; any
// goroutine. A libc without malloc_trim (musl) does nothing.
func ReleaseHeap() {
	heapOnce.Do(func() {
		lib, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			return
		}
		fnMallocTrim, _ = purego.Dlsym(lib, "malloc_trim")
	})
	if fnMallocTrim != 0 {
		purego.SyscallN(fnMallocTrim, 0)
	}
}
