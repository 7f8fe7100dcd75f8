package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lmx-app/lmx/store/library"
)

// transfer is one file download attempt's settings.
type transfer struct {
	client   *Client
	cache    library.Cache
	repo     string
	commit   string
	file     File
	stall    time.Duration
	progress func(delta int64) // bytes written; negative when a partial file is discarded
}

// fetchOnce downloads what is missing of the file into its .incomplete
// path, resuming with a Range request. It returns nil once the file has
// the expected size (verification is the caller's).
func (t transfer) fetchOnce(ctx context.Context) error {
	path, err := t.cache.PrepareBlobDir(t.repo, t.file.BlobID)
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: %w", path, library.ErrUnsafePath)
	}
	have := fileSize(path)
	if have > t.file.Size {
		if err := t.discard(path, have); err != nil {
			return err
		}
		have = 0
	}
	if have == t.file.Size {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watchdog := time.AfterFunc(t.stall, func() { cancel(ErrStalled) })
	defer watchdog.Stop()
	resp, err := t.request(ctx, have)
	if err != nil {
		return stallCause(ctx, err)
	}
	defer resp.Body.Close()
	if have, err = t.startOffset(resp, path, have); err != nil {
		return err
	}
	// Never write past the promised size: a longer body would fill the disk
	// and push the progress past its total; the hash check rejects it.
	return stallCause(ctx, t.write(path, io.LimitReader(resp.Body, t.file.Size-have), watchdog))
}

// request sends the GET for the file from offset, following redirects to
// the CDN, and checks the Hub's headers against what model info promised.
func (t transfer) request(ctx context.Context, offset int64) (*http.Response, error) {
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", t.client.Endpoint, t.repo, t.commit, escapePath(t.file.Name))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	t.client.authorize(req)
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	var hubResp *http.Response // the Hub's own response: the first of a redirect chain
	resp, err := t.client.client(func(r *http.Response) {
		if hubResp == nil {
			hubResp = r
		}
	}).Do(req)
	if err != nil {
		return nil, err
	}
	if hubResp == nil {
		hubResp = resp
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		return nil, newHTTPError(resp, t.repo)
	}
	if err := t.checkHubHeaders(hubResp.Header); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// checkHubHeaders compares X-Repo-Commit, X-Linked-Etag (else ETag) and
// X-Linked-Size with the model info, so a file changed upstream is not mixed
// into this snapshot.
func (t transfer) checkHubHeaders(h http.Header) error {
	if c := h.Get("X-Repo-Commit"); c != "" && c != t.commit {
		return fmt.Errorf("%s: served from commit %s, want %s: %w", t.file.Name, c, t.commit, ErrChecksum)
	}
	etag := h.Get("X-Linked-Etag")
	if etag == "" {
		etag = h.Get("ETag")
	}
	if e := normalizeETag(etag); library.ValidateBlobID(e) == nil && e != t.file.BlobID {
		return fmt.Errorf("%s: etag %s, want %s: %w", t.file.Name, e, t.file.BlobID, ErrChecksum)
	}
	if s := h.Get("X-Linked-Size"); s != "" && s != strconv.FormatInt(t.file.Size, 10) {
		return fmt.Errorf("%s: size %s, want %d: %w", t.file.Name, s, t.file.Size, ErrChecksum)
	}
	return nil
}

// startOffset decides where the body goes: appended for a 206 that starts
// at have, from scratch for a 200 (the server ignored the Range).
func (t transfer) startOffset(resp *http.Response, path string, have int64) (int64, error) {
	if resp.StatusCode == http.StatusPartialContent {
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", have)) {
			return 0, fmt.Errorf("%s: range %q does not start at %d", t.file.Name, resp.Header.Get("Content-Range"), have)
		}
		return have, nil
	}
	if have > 0 {
		return 0, t.discard(path, have)
	}
	return 0, nil
}

// write appends body to path, resetting the stall watchdog on every read.
func (t transfer) write(path string, body io.Reader, watchdog *time.Timer) error {
	f, err := openPartial(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			watchdog.Reset(t.stall)
			if _, err := f.Write(buf[:n]); err != nil {
				return writeError(path, err)
			}
			t.progress(int64(n))
		}
		if rerr == io.EOF {
			if s, ok := f.(interface{ Sync() error }); ok {
				if err := s.Sync(); err != nil {
					return writeError(path, err)
				}
			}
			return writeError(path, f.Close())
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", t.file.Name, rerr)
		}
	}
}

// openPartial opens a blob's incomplete file for appending, refusing a
// symlink planted in its place. Tests replace it to simulate a full disk.
var openPartial = func(path string) (io.WriteCloser, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW, 0o644)
}

// discard truncates a partial file that cannot be resumed.
func (t transfer) discard(path string, have int64) error {
	if err := os.Truncate(path, 0); err != nil {
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	t.progress(-have)
	return nil
}

// verify checks the complete file's size and hash: sha256 for LFS files,
// the git blob sha1 otherwise. A mismatching file is deleted.
func (t transfer) verify() error {
	path := t.cache.IncompletePath(t.repo, t.file.BlobID)
	got, err := hashFile(path, t.file)
	if err != nil {
		return err
	}
	size := fileSize(path)
	if got == t.file.BlobID && size == t.file.Size {
		return nil
	}
	os.Remove(path)
	t.progress(-size)
	return fmt.Errorf("%s: hash %s, want %s: %w", t.file.Name, got, t.file.BlobID, ErrChecksum)
}

// hashFile returns the hex id the Hub names f by, computed from path.
func hashFile(path string, f File) (string, error) {
	r, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("verify %s: %w", f.Name, err)
	}
	defer r.Close()
	var h hash.Hash
	if f.SHA256 != "" {
		h = sha256.New()
	} else {
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", fileSize(path))
	}
	if _, err := io.Copy(h, r); err != nil {
		return "", fmt.Errorf("verify %s: %w", f.Name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeError marks a full disk with ErrDiskFull.
func writeError(path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("write %s: %w (%w)", path, ErrDiskFull, err)
	}
	return fmt.Errorf("write %s: %w", path, err)
}

// stallCause reports ErrStalled when the watchdog canceled the transfer.
func stallCause(ctx context.Context, err error) error {
	if err != nil && errors.Is(context.Cause(ctx), ErrStalled) {
		return fmt.Errorf("%w: %w", ErrStalled, err)
	}
	return err
}

// normalizeETag strips a weak marker and quotes, as huggingface_hub does.
func normalizeETag(etag string) string {
	return strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
}

// escapePath escapes each segment of a repo file name for a URL.
func escapePath(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// fileSize is the size of path, 0 when absent.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
