package hub

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestValidateEndpoint(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"https://huggingface.co", true},
		{"https://hf-mirror.com", true},
		{"https://mirror.example.com/hf", true},
		{"https://mirror.example.com:8443", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:9000", true},
		{"http://[::1]:9000", true},
		{"http://huggingface.co", false},
		{"http://192.168.1.10:8080", false},
		{"http://evil.example.com", false},
		{"http://127.0.0.1.evil.example.com", false},
		{"ftp://huggingface.co", false},
		{"file:///etc/passwd", false},
		{"huggingface.co", false},
		{"https://user:pass@huggingface.co", false},
		{"https://token@huggingface.co", false},
		{"https://huggingface.co/../etc", false},
		{"https://huggingface.co/a/./b", false},
		{"https://huggingface.co/%2e%2e/x", false},
		{"https://huggingface.co\\@evil.com", false},
		{"https://huggingface.co?x=1", false},
		{"https://huggingface.co#frag", false},
		{"https://", false},
		{"", false},
		{"javascript:alert(1)", false},
	} {
		err := ValidateEndpoint(tc.endpoint)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateEndpoint(%q) = %v, want ok=%v", tc.endpoint, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrUnsafeEndpoint) {
			t.Errorf("ValidateEndpoint(%q) = %v, not ErrUnsafeEndpoint", tc.endpoint, err)
		}
	}
}

// recorder is a server that records the Authorization headers it gets.
type recorder struct {
	mu   sync.Mutex
	reqs int
	auth []string
	srv  *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs++
		if a := req.Header.Get("Authorization"); a != "" {
			r.auth = append(r.auth, a)
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`[]`))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) seen() (int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs, append([]string(nil), r.auth...)
}

// viaRecorder makes c reach any host name at the recorder's address (as a
// DNS answer would), so c can be pointed at a non-loopback name.
func viaRecorder(c *Client, r *recorder) {
	addr := r.srv.Listener.Addr().String()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	c.HTTP = &http.Client{Transport: tr}
}

// TestTokenSentOnlyToAllowedEndpoint: the token goes to a loopback http
// endpoint (a local mirror), but after the endpoint changes to a plain-http
// URL on the network no request is sent at all — the token never leaves.
func TestTokenSentOnlyToAllowedEndpoint(t *testing.T) {
	r := newRecorder(t)
	c := NewClient(r.srv.URL, "hf_secret")
	if _, err := c.Search(context.Background(), SearchQuery{Search: "x"}); err != nil {
		t.Fatalf("search on loopback endpoint: %v", err)
	}
	if n, auth := r.seen(); n != 1 || len(auth) != 1 || auth[0] != "Bearer hf_secret" {
		t.Fatalf("loopback endpoint got %d requests, auth %q; want the token once", n, auth)
	}
	port := r.srv.Listener.Addr().(*net.TCPAddr).Port
	for _, endpoint := range []string{
		"http://attacker.example:" + itoa(port),
		"http://10.1.2.3:" + itoa(port),
		"https://user:pw@attacker.example:" + itoa(port),
	} {
		r2 := newRecorder(t)
		c.Endpoint = endpoint // the setting changed
		viaRecorder(c, r2)
		_, err := c.Search(context.Background(), SearchQuery{Search: "x"})
		if !errors.Is(err, ErrUnsafeEndpoint) {
			t.Errorf("%s: search err %v, want ErrUnsafeEndpoint", endpoint, err)
		}
		if _, err := c.ModelInfo(context.Background(), "org/model", "main"); !errors.Is(err, ErrUnsafeEndpoint) {
			t.Errorf("%s: model info err %v, want ErrUnsafeEndpoint", endpoint, err)
		}
		if n, auth := r2.seen(); n != 0 || len(auth) != 0 {
			t.Errorf("%s: server got %d requests, auth %q; want none", endpoint, n, auth)
		}
	}
}

// TestHFEndpointFromEnvironmentIsValidated: $HF_ENDPOINT set to a plain-http
// network URL never receives $HF_TOKEN.
func TestHFEndpointFromEnvironmentIsValidated(t *testing.T) {
	r := newRecorder(t)
	t.Setenv("HF_ENDPOINT", "http://hub.attacker.example")
	t.Setenv("HF_TOKEN", "hf_secret")
	c := NewClient("", "")
	viaRecorder(c, r)
	_, err := c.Search(context.Background(), SearchQuery{})
	if !errors.Is(err, ErrUnsafeEndpoint) || !strings.Contains(err.Error(), "https") {
		t.Errorf("search err %v, want ErrUnsafeEndpoint saying to use https", err)
	}
	if _, err := c.ReadConfig(context.Background(), "org/model", "main"); !errors.Is(err, ErrUnsafeEndpoint) {
		t.Errorf("read config err %v, want ErrUnsafeEndpoint", err)
	}
	if n, _ := r.seen(); n != 0 {
		t.Errorf("server got %d requests, want none", n)
	}
}

// TestRedirectToOtherOriginDropsToken: a Hub answer redirecting to another
// origin (another port on the same host counts) gets no token there.
func TestRedirectToOtherOriginDropsToken(t *testing.T) {
	other := newRecorder(t)
	var hubAuth []string
	var mu sync.Mutex
	hubSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		hubAuth = append(hubAuth, req.Header.Get("Authorization"))
		mu.Unlock()
		http.Redirect(w, req, other.srv.URL+"/api/models", http.StatusFound)
	}))
	defer hubSrv.Close()
	c := NewClient(hubSrv.URL, "hf_secret")
	if _, err := c.get(context.Background(), hubSrv.URL+"/api/models", ""); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hubAuth) != 1 || hubAuth[0] != "Bearer hf_secret" {
		t.Errorf("hub got auth %q, want the token", hubAuth)
	}
	if n, auth := other.seen(); n != 1 || len(auth) != 0 {
		t.Errorf("redirect target got %d requests with auth %q; want one without", n, auth)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
