package store

import (
	"errors"
	"net"
	"net/url"
	"strings"
)

// CheckHubEndpoint checks a Hugging Face Hub endpoint URL (the
// library.endpoint setting, $HF_ENDPOINT, the CLI's --endpoint) before
// anything, the Hub token above all, is sent to it. The URL must be absolute
// https, or plain http only to a loopback host (a local mirror or test
// server). It must have no user name or password, no query or fragment, and
// its path (a mirror's prefix) must have no dot segments, escapes or
// backslashes. The error says which rule failed. hub.ValidateEndpoint wraps
// it in hub.ErrUnsafeEndpoint.
func CheckHubEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return errors.New("use https://")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("a user name or password in the URL is not allowed (set the Hub token instead)")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || strings.Contains(endpoint, "#"):
		return errors.New("no query or fragment allowed")
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return errors.New("plain http is allowed only to this machine (localhost); use https://")
	case strings.ContainsAny(endpoint, "\\%") || u.RawPath != "":
		return errors.New("escapes and backslashes are not allowed")
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return errors.New("dot segments are not allowed in the path")
		}
	}
	return nil
}

// loopbackHost reports whether host (no port) only reaches this machine.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
