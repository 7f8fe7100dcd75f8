package metal

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// libSystem functions used for memory facts (resolved once).
var (
	libSystemOnce sync.Once
	libSystemErr  error
	// int sysctlbyname(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen);
	fnSysctlbyname uintptr
	// mach_port_t mach_host_self(void);
	fnMachHostSelf uintptr
	// kern_return_t host_page_size(host_t host, vm_size_t* out);
	fnHostPageSize uintptr
	// kern_return_t host_statistics64(host_t host, int flavor, host_info64_t info, mach_msg_type_number_t* count);
	fnHostStatistics64 uintptr
)

// vmStatistics64 mirrors <mach/vm_statistics.h> struct vm_statistics64.
type vmStatistics64 struct {
	freeCount, activeCount, inactiveCount, wireCount              uint32
	zeroFill, reactivations, pageins, pageouts, faults, cowFaults uint64
	lookups, hits, purges                                         uint64
	purgeableCount, speculativeCount                              uint32
	decompressions, compressions, swapins, swapouts               uint64
	compressorPageCount, throttledCount                           uint32
	externalPageCount, internalPageCount                          uint32
	totalUncompressedPagesInCompressor                            uint64
}

const hostVMInfo64 = 4 // HOST_VM_INFO64

func loadLibSystem() error {
	libSystemOnce.Do(func() {
		lib, err := purego.Dlopen("/usr/lib/libSystem.B.dylib", purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			libSystemErr = fmt.Errorf("dlopen libSystem: %w", err)
			return
		}
		libSystemErr = bindSyms(lib, []sym{
			{"sysctlbyname", &fnSysctlbyname}, {"mach_host_self", &fnMachHostSelf},
			{"host_page_size", &fnHostPageSize}, {"host_statistics64", &fnHostStatistics64},
		})
	})
	return libSystemErr
}

// sysctlUint reads an integer sysctl of 4 or 8 bytes.
func sysctlUint(name string) (uint64, error) {
	var v uint64
	size := uintptr(8)
	n := cString(name)
	r, _, _ := purego.SyscallN(fnSysctlbyname, uintptr(unsafe.Pointer(unsafe.SliceData(n))),
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&size)), 0, 0)
	if int32(r) != 0 {
		return 0, fmt.Errorf("sysctl %s failed", name)
	}
	if size == 4 {
		v &= 0xffffffff // little-endian: the int sits in the low half
	}
	return v, nil
}

// SystemMemory reads hw.memsize, iogpu.wired_limit_mb and the VM page
// statistics through libSystem. Pure Go (purego); any goroutine.
func SystemMemory() (SystemMem, error) {
	if err := loadLibSystem(); err != nil {
		return SystemMem{}, fmt.Errorf("system memory: %w", err)
	}
	total, err := sysctlUint("hw.memsize")
	if err != nil {
		return SystemMem{}, fmt.Errorf("system memory: %w", err)
	}
	vm, page, err := vmStats()
	if err != nil {
		return SystemMem{}, fmt.Errorf("system memory: %w", err)
	}
	m := SystemMem{
		Total:      total,
		Available:  uint64(vm.freeCount+vm.inactiveCount) * page,
		Free:       uint64(vm.freeCount-min(vm.speculativeCount, vm.freeCount)) * page,
		Wired:      uint64(vm.wireCount) * page,
		Active:     uint64(vm.activeCount) * page,
		Inactive:   uint64(vm.inactiveCount) * page,
		Compressed: uint64(vm.compressorPageCount) * page,
	}
	m.Used = m.Total - min(m.Available, m.Total)
	if mb, err := sysctlUint("iogpu.wired_limit_mb"); err == nil {
		m.WiredLimit = mb << 20
	}
	return m, nil
}

func vmStats() (vmStatistics64, uint64, error) {
	var vm vmStatistics64
	host, _, _ := purego.SyscallN(fnMachHostSelf)
	var page uintptr
	if r, _, _ := purego.SyscallN(fnHostPageSize, host, uintptr(unsafe.Pointer(&page))); int32(r) != 0 {
		return vm, 0, fmt.Errorf("host_page_size: kern_return %d", int32(r))
	}
	count := uint32(unsafe.Sizeof(vm) / 4)
	r, _, _ := purego.SyscallN(fnHostStatistics64, host, hostVMInfo64,
		uintptr(unsafe.Pointer(&vm)), uintptr(unsafe.Pointer(&count)))
	if int32(r) != 0 {
		return vm, 0, fmt.Errorf("host_statistics64: kern_return %d", int32(r))
	}
	return vm, uint64(page), nil
}
