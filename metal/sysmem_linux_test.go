package metal

import (
	"strings"
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

func TestParseMeminfo(t *testing.T) {
	m, err := ParseMeminfo(strings.NewReader("MemTotal:       24576000 kB\nMemFree:  1000 kB\nMemAvailable:   20480000 kB\nUnevictable: 8 kB\nMlocked: 4 kB\nHugePages_Total: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := SystemMem{Total: 24576000 << 10, Free: 1000 << 10, Available: 20480000 << 10, Wired: 12 << 10,
		Used: (24576000 - 20480000) << 10}
	if m != want {
		t.Errorf("ParseMeminfo = %+v, want %+v", m, want)
	}
	for _, bad := range []string{"garbage", "", "MemFree: 12 kB\n", "MemTotal: lots kB\n"} {
		if m, err := ParseMeminfo(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMeminfo(%q) = %+v, want an error", bad, m)
		}
	}
}
