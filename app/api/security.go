package api

import (
	"fmt"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"

	"github.com/lmx-app/lmx/store"
)

// loopbackHosts are the Host names every server accepts: the server listens on
// loopback by default, and a browser only sends these for a loopback address
// (anything else could be a DNS-rebinding page pointing its name at 127.0.0.1).
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// AppOrigins are the origins of LMX's own webview on this platform; they
// are always allowed to call the server across origins. Only the origin
// Wails serves from here is allowed: elsewhere it could be a page from
// anywhere (http://wails.localhost is any local web server's on macOS).
var AppOrigins = appOrigins(runtime.GOOS)

// appOrigins is the origin Wails v2 (v2.9.2, internal/frontend/desktop/*/
// frontend.go: startURL) serves the app's pages from on goos:
// wails://wails/ on darwin and linux, http://wails.localhost/ on windows;
// none elsewhere (no Wails window).
func appOrigins(goos string) []string {
	switch goos {
	case "darwin", "linux":
		return []string{"wails://wails"}
	case "windows":
		return []string{"http://wails.localhost"}
	}
	return nil
}

// corsHeaders are the request headers a browser client may send cross-origin.
const corsHeaders = "Authorization, Content-Type, X-Api-Key, Anthropic-Version, Anthropic-Beta, Anthropic-Dangerous-Direct-Browser-Access, OpenAI-Organization, OpenAI-Project"

// hostName returns the lower-case host of a Host header without port,
// brackets or trailing dot.
func hostName(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return strings.ToLower(host)
}

// hostAllowed reports whether the Host header names loopback or one of extra.
func hostAllowed(hostport string, extra []string) bool {
	h := hostName(hostport)
	if h == "" {
		return false
	}
	if slices.Contains(loopbackHosts, h) {
		return true
	}
	return slices.ContainsFunc(extra, func(e string) bool { return hostName(e) == h })
}

// checkHost rejects requests whose Host is not allowed with 403.
func checkHost(extra []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hostAllowed(r.Host, extra) {
			writeErrorFor(w, r, fmt.Errorf("%w: %q (add it to the allowed hosts in Settings)", ErrHostNotAllowed, r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether origin is the origin of the server the request
// reached (a page served by LMX itself calling back).
func sameOrigin(origin string, r *http.Request) bool {
	return strings.EqualFold(origin, "http://"+r.Host) || strings.EqualFold(origin, "https://"+r.Host)
}

// checkOrigin implements CORS without wildcards: same-origin requests pass,
// configured origins get CORS headers (and preflights a 204), and requests
// from any other origin are refused with 403 — refusing rather than merely
// omitting CORS headers also stops "simple" cross-site POSTs (CSRF).
func checkOrigin(allowed []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		switch {
		case origin == "" || sameOrigin(origin, r):
			next.ServeHTTP(w, r)
		case slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, origin) }):
			setCORS(w.Header(), origin)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		default:
			writeErrorFor(w, r, fmt.Errorf("%w: %q (add it to the CORS origins in Settings)", ErrOriginNotAllowed, origin))
		}
	})
}

// setCORS writes the CORS response headers for one allowed origin.
func setCORS(h http.Header, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", "600")
}

// requestKey returns the API key a client sent, as OpenAI clients do
// (Authorization: Bearer) or as Anthropic clients do (x-api-key).
func requestKey(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// checkKey requires the key whose HashAPIKey is hash, when hash is set: on
// every /v1/ and /api/ route, from this machine too (other local users and
// processes must not read chats or change settings), and on everything for
// clients on other machines. Left open on loopback: the UI's own files (the
// page asks for the key on its first 401) and POST /api/window/show, which a
// second launch of the app uses to show this one's window and which only
// shows it.
func checkKey(hash string, next http.Handler) http.Handler {
	if hash == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := strings.HasPrefix(r.URL.Path, "/v1/") ||
			(strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/api/window/show")
		needed := api || !fromLoopback(r)
		if needed && !store.KeyMatches(requestKey(r), hash) {
			writeErrorFor(w, r, fmt.Errorf("%w: send it as \"Authorization: Bearer <key>\" or \"x-api-key\"", ErrUnauthorized))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fromLoopback reports whether the request's TCP peer is on this machine.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// limitBody caps every request body at limit bytes (no cap when limit <= 0).
func limitBody(limit int64, next http.Handler) http.Handler {
	if limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}
