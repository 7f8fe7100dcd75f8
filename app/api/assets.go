package api

import (
	"io/fs"
	"net/http"
)

// uiMissingPage is served at / when the binary was built without the UI.
const uiMissingPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>LMX</title></head>
<body style="font-family: system-ui, sans-serif; margin: 3em">
<h1>LMX</h1>
<p>The server is running, but this binary was built without the web UI.</p>
<p>Build it with <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>, then rebuild LMX.
The API works without it: <a href="/api/status">/api/status</a>, <a href="/v1/models">/v1/models</a>.</p>
</body></html>
`

// assetHandler serves the built UI from assets, or uiMissingPage when the
// build has no index.html.
func assetHandler(assets fs.FS) http.Handler {
	if assets == nil {
		return http.HandlerFunc(serveUIMissing)
	}
	if _, err := fs.Stat(assets, "index.html"); err != nil {
		return http.HandlerFunc(serveUIMissing)
	}
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// serveUIMissing writes uiMissingPage.
func serveUIMissing(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(uiMissingPage))
}
