package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrGated means the repo needs its license accepted on the Hub and a token.
	ErrGated = errors.New("gated repo")
	// ErrUnauthorized means the repo is private or needs a (valid) token.
	ErrUnauthorized = errors.New("needs a Hugging Face token")
	// ErrNotFound means the repo, revision or file does not exist.
	ErrNotFound = errors.New("not found on the Hub")
	// ErrChecksum means a downloaded file's size or hash did not match.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrStalled means no bytes arrived for the stall timeout.
	ErrStalled = errors.New("download stalled")
	// ErrDiskFull means the disk ran out of space; the partial file is kept.
	ErrDiskFull = errors.New("disk full")
	// ErrCanceled means the download was paused or canceled by the user.
	ErrCanceled = errors.New("download stopped")
	// ErrUnsafeEndpoint means the configured Hub endpoint is refused (not
	// https, plain http beyond loopback, credentials or dot segments in it).
	ErrUnsafeEndpoint = errors.New("unsafe Hub endpoint")
)

// HTTPError is a failed Hub response with the Hub's X-Error-Code and
// X-Error-Message headers.
type HTTPError struct {
	Status  int
	Code    string // X-Error-Code, e.g. "GatedRepo", "RepoNotFound"
	Message string // X-Error-Message
	URL     string
	Repo    string
	hasAuth bool
}

// Error says what failed and what the user can do about it.
func (e *HTTPError) Error() string {
	page := "https://huggingface.co/" + e.Repo
	switch {
	case errors.Is(e, ErrGated):
		return fmt.Sprintf("%s is gated: accept its license at %s, then set HF_TOKEN (or the Hub token setting) to a token of that account", e.Repo, page)
	case errors.Is(e, ErrUnauthorized) && e.hasAuth:
		return fmt.Sprintf("%s: the Hugging Face token was refused (HTTP %d) or has no access to this private repo", e.Repo, e.Status)
	case errors.Is(e, ErrUnauthorized):
		return fmt.Sprintf("%s is private or does not exist (HTTP %d): set HF_TOKEN (or the Hub token setting) if you have access", e.Repo, e.Status)
	case errors.Is(e, ErrNotFound):
		return fmt.Sprintf("%s: not found on the Hub (HTTP %d %s)", e.Repo, e.Status, e.Code)
	}
	return fmt.Sprintf("%s: HTTP %d from %s %s", e.Repo, e.Status, e.URL, e.Message)
}

// Unwrap maps the status and Hub error code to a sentinel.
func (e *HTTPError) Unwrap() error {
	switch {
	case e.Code == "GatedRepo":
		return ErrGated
	case e.Status == http.StatusNotFound,
		e.Code == "RepoNotFound" && e.hasAuth && e.Status != http.StatusUnauthorized,
		e.Code == "RevisionNotFound", e.Code == "EntryNotFound":
		return ErrNotFound
	case e.Status == http.StatusUnauthorized, e.Status == http.StatusForbidden:
		return ErrUnauthorized
	}
	return nil
}

// Temporary reports whether retrying may help (5xx, 429).
func (e *HTTPError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests
}

// newHTTPError builds an HTTPError from a response (its body is not read).
func newHTTPError(resp *http.Response, repo string) *HTTPError {
	return &HTTPError{
		Status:  resp.StatusCode,
		Code:    resp.Header.Get("X-Error-Code"),
		Message: resp.Header.Get("X-Error-Message"),
		URL:     resp.Request.URL.Redacted(),
		Repo:    repo,
		hasAuth: resp.Request.Header.Get("Authorization") != "",
	}
}

// retryable reports whether a failed transfer should be tried again: server
// errors, stalls, dropped or reset connections and timeouts — not 4xx,
// checksum failures, a full disk or the user stopping it.
func retryable(err error) bool {
	var he *HTTPError
	var ne net.Error
	switch {
	case errors.Is(err, ErrStalled):
		return true
	case errors.Is(err, ErrDiskFull), errors.Is(err, ErrChecksum), errors.Is(err, ErrCanceled),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &he):
		return he.Temporary()
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &ne):
		return true
	}
	return false
}
