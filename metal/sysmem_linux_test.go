package metal

import (
	"syscall"
	"testing"
)

func TestSystemMemory(t *testing.T) {
	m, err := SystemMemory()
	if err != nil {
		t.Fatal(err)
	}
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		t.Fatal(err)
	}
	if total := uint64(si.Totalram) * uint64(si.Unit); m.Total != total {
		t.Errorf("Total %d, sysinfo(2) says %d", m.Total, total)
	}
	if m.Available == 0 || m.Available > m.Total || m.Free > m.Available || m.Used != m.Total-m.Available {
		t.Errorf("implausible memory %+v", m)
	}
	if m.WiredLimit != 0 {
		t.Errorf("WiredLimit %d on Linux, want 0 (unknown)", m.WiredLimit)
	}
}
