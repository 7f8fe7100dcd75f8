package metal

import (
	"fmt"
	"testing"
)

func TestActiveMemoryFollowsArrays(t *testing.T) {
	const n = 1 << 20
	do(t, func() error {
		before := ActiveMemory()
		a := Full([]int{n}, 2, Float32)
		if err := Eval(a); err != nil {
			return err
		}
		during := ActiveMemory()
		if during-before < 4*n {
			return fmt.Errorf("active memory grew by %d bytes for a 4 MiB array", during-before)
		}
		if PeakMemory() < during {
			t.Errorf("peak %d below active %d", PeakMemory(), during)
		}
		a.Free()
		Synchronize() // GPU backends release buffers once the stream is done
		if after := ActiveMemory(); during-after < 4*n {
			t.Errorf("active memory fell by only %d bytes after Free", during-after)
		}
		if CacheMemory() == 0 {
			t.Error("freed buffer did not go to MLX's cache")
		}
		ClearCache()
		if c := CacheMemory(); c >= 4*n {
			t.Errorf("cache holds %d bytes after ClearCache", c)
		}
		ResetPeakMemory()
		if PeakMemory() > ActiveMemory()+4*n {
			t.Errorf("peak %d not reset", PeakMemory())
		}
		return nil
	})
}

func TestMemoryLimits(t *testing.T) {
	requireMLX(t)
	orig := MemoryLimit()
	if prev := SetMemoryLimit(1 << 30); prev != orig {
		t.Errorf("SetMemoryLimit returned %d, MemoryLimit was %d", prev, orig)
	}
	if got := MemoryLimit(); got != 1<<30 {
		t.Errorf("MemoryLimit() = %d after setting 1 GiB", got)
	}
	SetMemoryLimit(orig)
	prevCache := SetCacheLimit(1 << 20)
	if back := SetCacheLimit(prevCache); back != 1<<20 {
		t.Errorf("SetCacheLimit returned %d, want the 1 MiB set before", back)
	}
	if _, err := SetWiredLimit(0); err != nil {
		t.Errorf("SetWiredLimit(0): %v", err)
	}
}

func TestDevice(t *testing.T) {
	do(t, func() error {
		d := DefaultDevice()
		if GPUAvailable() != (d.Type == GPU) {
			t.Errorf("default device %v with GPUAvailable()=%v", d, GPUAvailable())
		}
		info, err := DeviceInfo()
		if err != nil {
			return err
		}
		if len(info) == 0 {
			t.Error("DeviceInfo is empty")
		}
		t.Logf("device %v: %v", d, info)
		SetDefaultDevice(Device{Type: CPU})
		if DefaultDevice().Type != CPU {
			t.Error("SetDefaultDevice(CPU) did not take")
		}
		SetDefaultDevice(d)
		Synchronize()
		return nil
	})
}
