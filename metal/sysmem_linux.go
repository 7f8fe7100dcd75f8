package metal

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// SystemMemory reads /proc/meminfo. Pure Go; any goroutine.
func SystemMemory() (SystemMem, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return SystemMem{}, fmt.Errorf("system memory: %w", err)
	}
	defer f.Close()
	m, err := ParseMeminfo(f)
	if err != nil {
		return SystemMem{}, fmt.Errorf("system memory: %w", err)
	}
	return m, nil
}

// ParseMeminfo reads Linux's /proc/meminfo text ("Key:   123 kB" lines):
// the project's one meminfo parser. A file without MemTotal, or with a
// value that is no number, is an error.
func ParseMeminfo(r io.Reader) (SystemMem, error) {
	kv := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return SystemMem{}, fmt.Errorf("meminfo %s: %w", key, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		kv[key] = v
	}
	if err := sc.Err(); err != nil {
		return SystemMem{}, fmt.Errorf("meminfo: %w", err)
	}
	m := SystemMem{
		Total: kv["MemTotal"], Available: kv["MemAvailable"], Free: kv["MemFree"],
		Wired:  kv["Unevictable"] + kv["Mlocked"],
		Active: kv["Active"], Inactive: kv["Inactive"], Compressed: kv["Zswap"],
	}
	if m.Total == 0 {
		return SystemMem{}, fmt.Errorf("meminfo has no MemTotal")
	}
	m.Used = m.Total - min(m.Available, m.Total)
	return m, nil
}
