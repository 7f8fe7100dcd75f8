// Package hub is LMX's Hugging Face Hub client: model search, model info
// with file hashes, and resumable, verified downloads into the library's
// cache layout (see Manager).
package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lmx-app/lmx/store"
	"github.com/lmx-app/lmx/store/library"
)

// DefaultEndpoint is the public Hub.
const DefaultEndpoint = "https://huggingface.co"

// UserAgent identifies LMX to the Hub.
const UserAgent = "lmx/0.1; hf_hub/compatible"

// Client talks to a Hub endpoint. Its fields may be set before first use.
type Client struct {
	Endpoint  string       // e.g. https://huggingface.co, no trailing slash
	Token     string       // optional; sent only to the endpoint's origin
	UserAgent string       // sent with every request
	HTTP      *http.Client // its CheckRedirect is replaced per request
}

// NewClient returns a client for endpoint (empty: $HF_ENDPOINT, else
// DefaultEndpoint) with token (empty: $HF_TOKEN). An endpoint that
// ValidateEndpoint refuses makes every request fail with ErrUnsafeEndpoint
// (the token is never sent to it).
func NewClient(endpoint, token string) *Client {
	if endpoint == "" {
		endpoint = os.Getenv("HF_ENDPOINT")
	}
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if token == "" {
		token = os.Getenv("HF_TOKEN")
	}
	return &Client{
		Endpoint:  strings.TrimRight(endpoint, "/"),
		Token:     token,
		UserAgent: UserAgent,
		HTTP:      &http.Client{Transport: transport()},
	}
}

// transport is the default transport with a bound on waiting for response
// headers; bodies are bounded by the downloads' stall watchdog instead of a
// total timeout, which would cut large files.
func transport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = time.Minute
	return t
}

// SearchQuery selects models; empty fields are left out.
type SearchQuery struct {
	Author string // e.g. "mlx-community"
	Search string // substring of the repo name
	Sort   string // e.g. "downloads", "likes", "lastModified"
	Limit  int    // per page
}

// ModelSummary is one search result.
type ModelSummary struct {
	ID          string    `json:"id"`
	Downloads   int64     `json:"downloads"`
	Likes       int64     `json:"likes"`
	Tags        []string  `json:"tags"`
	PipelineTag string    `json:"pipeline_tag"`
	LibraryName string    `json:"library_name"`
	Private     bool      `json:"private"`
	CreatedAt   time.Time `json:"createdAt"`
}

// SearchPage is one page of results; Next is the Link rel="next" URL.
type SearchPage struct {
	Models []ModelSummary
	Next   string
}

// Search runs /api/models with q.
func (c *Client) Search(ctx context.Context, q SearchQuery) (SearchPage, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("author", q.Author)
	set("search", q.Search)
	set("sort", q.Sort)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return c.SearchNext(ctx, c.Endpoint+"/api/models?"+v.Encode())
}

// SearchNext fetches a page by the Next URL of the previous one. The URL
// must be on the endpoint's origin (the token is not sent elsewhere).
func (c *Client) SearchNext(ctx context.Context, pageURL string) (SearchPage, error) {
	if !sameOrigin(pageURL, c.Endpoint) {
		return SearchPage{}, fmt.Errorf("search page %q is not on %s: %w", pageURL, c.Endpoint, library.ErrUnsafePath)
	}
	resp, err := c.get(ctx, pageURL, "")
	if err != nil {
		return SearchPage{}, fmt.Errorf("search models: %w", err)
	}
	defer resp.Body.Close()
	var all []ModelSummary
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&all); err != nil {
		return SearchPage{}, fmt.Errorf("decode search results: %w", err)
	}
	page := SearchPage{Next: nextLink(resp.Header.Values("Link"))}
	for _, m := range all {
		if library.ValidateRepoID(m.ID) == nil { // drop ids that could not be stored safely
			page.Models = append(page.Models, m)
		}
	}
	return page, nil
}

// File is one file of a repo revision.
type File struct {
	Name   string // path in the repo, validated
	Size   int64
	BlobID string // git blob id (non-LFS) or LFS sha256: the blob's name in the cache
	SHA256 string // LFS files only
}

// Info is a repo revision with its files.
type Info struct {
	ID      string
	Commit  string
	Private bool
	Gated   bool
	Files   []File
}

// ModelInfo fetches /api/models/{repo}/revision/{rev}?blobs=true and
// refuses unsafe repo ids, commits and file names from the server.
func (c *Client) ModelInfo(ctx context.Context, repo, rev string) (Info, error) {
	if err := library.ValidateRepoID(repo); err != nil {
		return Info{}, err
	}
	if err := library.ValidateRevision(rev); err != nil {
		return Info{}, err
	}
	u := fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", c.Endpoint, repo, url.PathEscape(rev))
	resp, err := c.get(ctx, u, repo)
	if err != nil {
		return Info{}, fmt.Errorf("model info: %w", err)
	}
	defer resp.Body.Close()
	var raw rawInfo
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&raw); err != nil {
		return Info{}, fmt.Errorf("decode model info of %s: %w", repo, err)
	}
	info, err := raw.validate()
	if err != nil {
		return Info{}, fmt.Errorf("model info of %s: %w", repo, err)
	}
	return info, nil
}

// rawInfo is the Hub's JSON for a model revision.
type rawInfo struct {
	ID       string          `json:"id"`
	SHA      string          `json:"sha"`
	Private  bool            `json:"private"`
	Gated    json.RawMessage `json:"gated"` // false, "auto" or "manual"
	Siblings []struct {
		RFilename string `json:"rfilename"`
		BlobID    string `json:"blobId"`
		Size      int64  `json:"size"`
		LFS       *struct {
			SHA256 string `json:"sha256"`
			Size   int64  `json:"size"`
		} `json:"lfs"`
	} `json:"siblings"`
}

// validate converts raw to Info, refusing anything unsafe.
func (r rawInfo) validate() (Info, error) {
	if err := library.ValidateRepoID(r.ID); err != nil {
		return Info{}, err
	}
	if err := library.ValidateCommit(r.SHA); err != nil {
		return Info{}, err
	}
	info := Info{ID: r.ID, Commit: r.SHA, Private: r.Private, Gated: len(r.Gated) > 0 && string(r.Gated) != "false"}
	seen := make(map[string]bool, len(r.Siblings))
	for _, s := range r.Siblings {
		f := File{Name: s.RFilename, Size: s.Size, BlobID: s.BlobID}
		if s.LFS != nil {
			f.Size, f.SHA256, f.BlobID = s.LFS.Size, s.LFS.SHA256, s.LFS.SHA256
		}
		if err := library.ValidateFileName(f.Name); err != nil {
			return Info{}, err
		}
		// Two downloads of one name would write the same file; a negative
		// size would pass every "have all bytes" check.
		if seen[f.Name] || f.Size < 0 {
			return Info{}, fmt.Errorf("file %s listed twice or with %d bytes: %w", f.Name, f.Size, library.ErrUnsafePath)
		}
		seen[f.Name] = true
		if err := library.ValidateBlobID(f.BlobID); err != nil {
			return Info{}, fmt.Errorf("file %s: %w", f.Name, err)
		}
		info.Files = append(info.Files, f)
	}
	return info, nil
}

// get performs an authenticated GET on the endpoint and turns non-2xx
// responses into *HTTPError.
func (c *Client) get(ctx context.Context, u, repo string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	c.authorize(req)
	resp, err := c.client(nil).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		resp.Body.Close()
		return nil, newHTTPError(resp, repo)
	}
	return resp, nil
}

// authorize sets the User-Agent and, on the endpoint's origin, the token.
func (c *Client) authorize(req *http.Request) {
	req.Header.Set("User-Agent", c.UserAgent)
	if c.Token != "" && c.tokenAllowed(req.URL) {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
}

// tokenAllowed reports whether the token may go to u: u is on the
// endpoint's origin and the endpoint passes ValidateEndpoint (https, or
// plain http only to loopback).
func (c *Client) tokenAllowed(u *url.URL) bool {
	return ValidateEndpoint(c.Endpoint) == nil && sameOrigin(u.String(), c.Endpoint)
}

// ValidateEndpoint checks a Hub endpoint (the library.endpoint setting,
// $HF_ENDPOINT or the CLI's --endpoint) with store.CheckHubEndpoint: an
// absolute https URL, or http only to a loopback host (a local mirror or
// test server); no user name or password in it, no query or fragment, and a
// path (a mirror's prefix) without dot segments, escapes or backslashes.
// Errors wrap ErrUnsafeEndpoint.
func ValidateEndpoint(endpoint string) error {
	if err := store.CheckHubEndpoint(endpoint); err != nil {
		return fmt.Errorf("Hub endpoint %q: %v: %w", endpoint, err, ErrUnsafeEndpoint)
	}
	return nil
}

// guard is the last check before a request leaves: requests to a refused
// endpoint fail, and a token on a request it may not go to is removed.
type guard struct {
	c    *Client
	next http.RoundTripper
}

// RoundTrip sends req after the checks.
func (g guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := ValidateEndpoint(g.c.Endpoint); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if req.Header.Get("Authorization") != "" && !g.c.tokenAllowed(req.URL) {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return g.next.RoundTrip(req)
}

// client returns the HTTP client with a redirect policy that drops the
// Authorization header when a redirect leaves the endpoint's origin (the
// CDN must never see the token) and reports each redirect to onRedirect.
func (c *Client) client(onRedirect func(*http.Response)) *http.Client {
	hc := *c.HTTP
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = guard{c: c, next: next}
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects")
		}
		if !c.tokenAllowed(req.URL) {
			req.Header.Del("Authorization")
		}
		if onRedirect != nil && req.Response != nil {
			onRedirect(req.Response)
		}
		return nil
	}
	return &hc
}

// sameOrigin compares scheme, host and port of two URLs.
func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

// nextLink returns the URL of rel="next" in Link headers, or "".
func nextLink(values []string) string {
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			segs := strings.Split(part, ";")
			target := strings.Trim(strings.TrimSpace(segs[0]), "<>")
			for _, p := range segs[1:] {
				if strings.ReplaceAll(strings.TrimSpace(p), " ", "") == `rel="next"` {
					return target
				}
			}
		}
	}
	return ""
}
