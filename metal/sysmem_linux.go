package metal

import (
	"bufio"
	"fmt"
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
	kv, err := parseMeminfo(bufio.NewScanner(f))
	if err != nil {
		return SystemMem{}, fmt.Errorf("system memory: %w", err)
	}
	m := SystemMem{
		Total: kv["MemTotal"], Available: kv["MemAvailable"], Free: kv["MemFree"],
		Wired:  kv["Unevictable"] + kv["Mlocked"],
		Active: kv["Active"], Inactive: kv["Inactive"], Compressed: kv["Zswap"],
	}
	if m.Total == 0 {
		return SystemMem{}, fmt.Errorf("system memory: no MemTotal in /proc/meminfo")
	}
	m.Used = m.Total - min(m.Available, m.Total)
	return m, nil
}

// parseMeminfo reads "Key:   123 kB" lines into bytes.
func parseMeminfo(sc *bufio.Scanner) (map[string]uint64, error) {
	kv := map[string]uint64{}
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
			return nil, fmt.Errorf("meminfo %s: %w", key, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		kv[key] = v
	}
	return kv, sc.Err()
}
