package metal

// SystemMem describes the machine's memory in bytes. On Apple Silicon the
// GPU shares it (unified memory).
type SystemMem struct {
	// Total is the physical memory.
	Total uint64
	// Available is what new allocations can get without swapping.
	Available uint64
	// Free is memory not used for anything.
	Free uint64
	// Wired is memory that cannot be paged out (macOS; Linux: Unevictable+Mlocked).
	Wired uint64
	// Active and Inactive are the kernel's page lists.
	Active, Inactive uint64
	// Compressed is memory held by the compressor (macOS) or zswap (Linux).
	Compressed uint64
	// Used is Total - Available.
	Used uint64
	// WiredLimit is macOS's iogpu.wired_limit_mb in bytes (0: unknown or the
	// system default).
	WiredLimit uint64
}
