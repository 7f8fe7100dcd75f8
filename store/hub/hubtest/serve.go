package hubtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveCDN answers GET/HEAD /repos/{repo}/{sha256} with the LFS blob.
func (h *Hub) serveCDN(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.cdnAuth = append(h.cdnAuth, r.Header.Get("Authorization"))
	h.mu.Unlock()
	parts := strings.Split(r.URL.Path, "/")
	repo, name := h.byBlob(parts[len(parts)-1])
	if repo == nil {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	w.Header().Set("ETag", `"cdn-`+parts[len(parts)-1][:16]+`"`) // S3-style etag, not the sha256
	h.serveBytes(w, r, repo, name, repo.Files[name])
}

// serveBytes sends b honouring "Range: bytes=N-" (and N-M), applying the
// file's faults.
func (h *Hub) serveBytes(w http.ResponseWriter, r *http.Request, repo *Repo, name string, b []byte) {
	start, end, ok := parseRange(r.Header.Get("Range"), int64(len(b)))
	if !ok {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(b)))
		w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
		return
	}
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
	if r.Method == http.MethodHead {
		return
	}
	f := h.takeFault(repo, name, r.Header.Get("Range"))
	if f.FailFirst > 0 {
		http.Error(w, "Internal Error", http.StatusInternalServerError)
		return
	}
	status := http.StatusOK
	if r.Header.Get("Range") != "" {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, len(b)))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	sendBody(w, r, b, start, end, f)
}

// sendBody writes b[start:end] in chunks, dropping, stalling or throttling
// as f says.
func sendBody(w http.ResponseWriter, r *http.Request, b []byte, start, end int64, f Fault) {
	const chunk = 16 << 10
	flusher, _ := w.(http.Flusher)
	limit := end - start
	if f.DropTimes > 0 {
		limit = min(limit, f.DropAfter)
	}
	if f.StallTimes > 0 {
		limit = min(limit, f.StallAfter)
	}
	for sent := int64(0); sent < limit && r.Context().Err() == nil; {
		n := min(chunk, limit-sent)
		w.Write(b[start+sent : start+sent+n])
		flusher.Flush()
		sent += n
		if f.BytesPerSec > 0 {
			time.Sleep(time.Duration(n) * time.Second / time.Duration(f.BytesPerSec))
		}
	}
	switch {
	case f.DropTimes > 0 && limit < end-start:
		panic(http.ErrAbortHandler) // closes the connection mid-body
	case f.StallTimes > 0 && limit < end-start:
		<-r.Context().Done()
	}
}

// takeFault counts a body request of name and returns the faults that
// apply to it, consuming one use of each.
func (h *Hub) takeFault(repo *Repo, name, rng string) Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ranges[name] = append(h.ranges[name], rng)
	f := repo.faults[name]
	if f == nil {
		return Fault{}
	}
	now := Fault{BytesPerSec: f.BytesPerSec}
	switch {
	case f.FailFirst > 0:
		f.FailFirst--
		now.FailFirst = 1
	case f.DropTimes > 0:
		f.DropTimes--
		now.DropTimes, now.DropAfter = 1, f.DropAfter
	case f.StallTimes > 0:
		f.StallTimes--
		now.StallTimes, now.StallAfter = 1, f.StallAfter
	}
	return now
}

// parseRange reads "bytes=N-" or "bytes=N-M"; no header is the whole body.
func parseRange(h string, size int64) (int64, int64, bool) {
	if h == "" {
		return 0, size, true
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	from, to, _ := strings.Cut(spec, "-")
	start, err := strconv.ParseInt(from, 10, 64)
	if !ok || err != nil || start >= size {
		return 0, 0, false
	}
	end := size
	if to != "" {
		last, err := strconv.ParseInt(to, 10, 64)
		if err != nil || last < start {
			return 0, 0, false
		}
		end = min(last+1, size)
	}
	return start, end, true
}
