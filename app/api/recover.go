package api

import (
	"net/http"

	"github.com/lmx-app/lmx/internal/safe"
)

// recoverPanics is the outermost middleware: a panic in any handler (or in
// the checks around them) is logged with its stack and answered with a 500
// in the error shape of the API called (Anthropic's under /v1/messages,
// OpenAI's elsewhere), so the connection and the process carry on. When the
// response has already started (a stream) nothing more can be said on it:
// the connection is aborted (http.ErrAbortHandler) so the client sees a cut
// response rather than a well-formed but truncated one.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			err := safe.Panicked(r.Method+" "+r.URL.Path, v)
			if sw.wrote {
				panic(http.ErrAbortHandler)
			}
			writeErrorFor(sw, r, err)
		}()
		safe.Point("http.handler")
		next.ServeHTTP(sw, r)
	})
}
