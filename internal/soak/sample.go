package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Sample is one look at the server process.
type Sample struct {
	At         time.Duration // since the soak started
	OK, Failed int64         // requests so far
	RSS        int64         // bytes, /proc/PID/status VmRSS
	Goroutines int           // /api/stats process.goroutines
	FDs        int           // entries of /proc/PID/fd
	MLXActive  int64         // bytes, /api/stats mlx.active
	PrefixHits int64         // every model's prefix-cache hits so far
}

// statsBody is the part of GET /api/stats the soak reads.
type statsBody struct {
	Models []struct {
		Active      int `json:"active"`
		Queued      int `json:"queued"`
		PrefixCache struct {
			Hits int64 `json:"hits"`
		} `json:"prefix_cache"`
	} `json:"models"`
	MLX *struct {
		Active int64 `json:"active"`
	} `json:"mlx"`
	Process *struct {
		PID        int `json:"pid"`
		Goroutines int `json:"goroutines"`
	} `json:"process"`
}

// readStats gets GET /api/stats.
func readStats(ctx context.Context, client *http.Client, url string) (statsBody, error) {
	var st statsBody
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(url, "/")+"/api/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("stats: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("stats: %w", err)
	}
	if st.Process == nil || st.Process.Goroutines <= 0 {
		return st, fmt.Errorf("stats: no process figures (a server older than the soak?)")
	}
	if st.MLX == nil {
		return st, fmt.Errorf("stats: no MLX memory (the engine is not loaded)")
	}
	return st, nil
}

// take samples the process pid and the server at url.
func take(ctx context.Context, client *http.Client, url string, pid int) (Sample, error) {
	var s Sample
	st, err := readStats(ctx, client, url)
	if err != nil {
		return s, err
	}
	s.Goroutines, s.MLXActive = st.Process.Goroutines, st.MLX.Active
	for _, m := range st.Models {
		s.PrefixHits += m.PrefixCache.Hits
	}
	if s.RSS, err = rss(pid); err != nil {
		return s, err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, fmt.Errorf("open files of %d: %w", pid, err)
	}
	s.FDs = len(fds)
	return s, nil
}

// rss reads VmRSS (kB) from /proc/PID/status.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("rss of %d: %w", pid, err)
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(rest))
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("rss of %d: line %q", pid, line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil || kb <= 0 {
				return 0, fmt.Errorf("rss of %d: line %q", pid, line)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("rss of %d: no VmRSS line", pid)
}
