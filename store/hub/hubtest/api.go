package hubtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// hubMux routes the Hub's endpoints.
func (h *Hub) hubMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/models", h.search)
	mux.HandleFunc("GET /api/models/{org}/{name}/revision/{rev}", h.info)
	mux.HandleFunc("GET /api/models/{org}/{name}", h.info)
	mux.HandleFunc("GET /api/models/{org}/{name}/tree/{rev}", h.tree)
	mux.HandleFunc("GET /", h.resolvePath)
	return mux
}

// resolvePath routes /{org}/{name}/resolve/{rev}/{file...}, a pattern that
// ServeMux cannot hold beside /api/models/... .
func (h *Hub) resolvePath(w http.ResponseWriter, r *http.Request) {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
	if len(parts) != 5 || parts[2] != "resolve" {
		http.NotFound(w, r)
		return
	}
	for i, k := range []string{"org", "name", "", "rev", "file"} {
		if k != "" {
			r.SetPathValue(k, parts[i])
		}
	}
	h.resolve(w, r)
}

// search answers /api/models with author/search filters, sort=downloads,
// limit and cursor pagination announced in a Link header.
func (h *Hub) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	h.mu.Lock()
	var hits []*Repo
	for _, repo := range h.repos {
		author, _, _ := strings.Cut(repo.ID, "/")
		if (q.Get("author") == "" || author == q.Get("author")) &&
			strings.Contains(strings.ToLower(repo.ID), strings.ToLower(q.Get("search"))) && !repo.Private {
			hits = append(hits, repo)
		}
	}
	h.mu.Unlock()
	sort.Slice(hits, func(i, j int) bool {
		if q.Get("sort") == "downloads" && hits[i].Downloads != hits[j].Downloads {
			return hits[i].Downloads > hits[j].Downloads
		}
		return hits[i].ID < hits[j].ID
	})
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 1000
	}
	start, _ := strconv.Atoi(q.Get("cursor"))
	end := min(start+limit, len(hits))
	start = min(start, end)
	if end < len(hits) {
		next := *r.URL
		nq := next.Query()
		nq.Set("cursor", strconv.Itoa(end))
		next.RawQuery = nq.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next"`, h.URL, next.RequestURI()))
	}
	out := make([]map[string]any, 0, end-start)
	for _, repo := range hits[start:end] {
		out = append(out, summary(repo))
	}
	writeJSON(w, out)
}

// summary is a search result as the Hub lists it.
func summary(r *Repo) map[string]any {
	return map[string]any{
		"_id": r.Commit[:24], "id": r.ID, "modelId": r.ID, "likes": r.Downloads / 10, "trendingScore": 0,
		"private": r.Private, "downloads": r.Downloads, "tags": []string{"mlx", "safetensors"},
		"pipeline_tag": "text-generation", "library_name": "mlx", "createdAt": lastModified,
	}
}

// info answers /api/models/{repo}[/revision/{rev}][?blobs=true].
func (h *Hub) info(w http.ResponseWriter, r *http.Request) {
	repo, ok := h.authorize(w, r)
	if !ok || !h.checkRevision(w, r, repo) {
		return
	}
	blobs := r.URL.Query().Get("blobs") == "true"
	siblings := []map[string]any{}
	h.mu.Lock()
	for _, n := range sortedNames(repo.Files) {
		siblings = append(siblings, repo.sibling(n, blobs))
	}
	h.mu.Unlock()
	info := summary(repo)
	info["author"], _, _ = strings.Cut(repo.ID, "/")
	info["sha"], info["lastModified"], info["disabled"] = repo.Commit, lastModified, false
	info["gated"] = map[bool]any{true: "manual", false: false}[repo.Gated]
	info["siblings"] = siblings
	info["config"] = map[string]any{}
	if repo.InfoHook != nil {
		repo.InfoHook(info)
	}
	writeJSON(w, info)
}

// sibling describes file n as model info does.
func (r *Repo) sibling(n string, blobs bool) map[string]any {
	s := map[string]any{"rfilename": n}
	if !blobs {
		return s
	}
	b := r.Files[n]
	s["size"], s["blobId"] = len(b), GitBlobID(b)
	if IsLFS(n) {
		sha := SHA256(b)
		if f := r.faults[n]; f != nil && f.WrongSHA {
			sha = SHA256(append([]byte("tampered"), b...))
		}
		s["lfs"] = map[string]any{"sha256": sha, "size": len(b), "pointerSize": 134}
	}
	return s
}

// tree answers /api/models/{repo}/tree/{rev} (huggingface_hub's
// snapshot_download lists files with it).
func (h *Hub) tree(w http.ResponseWriter, r *http.Request) {
	repo, ok := h.authorize(w, r)
	if !ok || !h.checkRevision(w, r, repo) {
		return
	}
	out := []map[string]any{}
	for _, n := range sortedNames(repo.Files) {
		b := repo.Files[n]
		e := map[string]any{"type": "file", "oid": GitBlobID(b), "size": len(b), "path": n}
		if IsLFS(n) {
			e["lfs"] = map[string]any{"oid": SHA256(b), "size": len(b), "pointerSize": 134}
		}
		out = append(out, e)
	}
	writeJSON(w, out)
}

// resolve answers HEAD and GET /{repo}/resolve/{rev}/{file}: LFS files
// redirect to the CDN with the X-Linked-* headers, others are served here.
func (h *Hub) resolve(w http.ResponseWriter, r *http.Request) {
	repo, ok := h.authorize(w, r)
	if !ok || !h.checkRevision(w, r, repo) {
		return
	}
	name := r.PathValue("file")
	b, ok := repo.Files[name]
	if !ok {
		hubError(w, http.StatusNotFound, "EntryNotFound", name+" does not exist")
		return
	}
	w.Header().Set("X-Repo-Commit", repo.Commit)
	if !IsLFS(name) {
		w.Header().Set("ETag", `"`+GitBlobID(b)+`"`)
		h.serveBytes(w, r, repo, name, b)
		return
	}
	sha := SHA256(b)
	w.Header().Set("ETag", `"`+sha+`"`)
	w.Header().Set("X-Linked-Etag", `"`+sha+`"`)
	w.Header().Set("X-Linked-Size", strconv.Itoa(len(b)))
	w.Header().Set("Location", h.CDNURL+"/repos/"+url.PathEscape(repo.ID)+"/"+sha+"?X-Signature=fake")
	w.WriteHeader(http.StatusFound)
}

// authorize finds the repo of the request and enforces Private / Gated the
// way the Hub answers: 401 RepoNotFound without access to a private or
// missing repo, 401/403 GatedRepo for gated ones.
func (h *Hub) authorize(w http.ResponseWriter, r *http.Request) (*Repo, bool) {
	repo := h.lookup(r.PathValue("org") + "/" + r.PathValue("name"))
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	hasToken := r.Header.Get("Authorization") != ""
	switch {
	case repo == nil || repo.Private && token != repo.Token:
		status := http.StatusUnauthorized
		if hasToken && repo == nil {
			status = http.StatusNotFound
		}
		hubError(w, status, "RepoNotFound", "Repository not found")
		return nil, false
	case repo.Gated && token != repo.Token:
		status := map[bool]int{false: http.StatusUnauthorized, true: http.StatusForbidden}[hasToken]
		hubError(w, status, "GatedRepo", "Access to model "+repo.ID+" is restricted and you are not in the authorized list.")
		return nil, false
	}
	return repo, true
}

// checkRevision accepts "main" or the repo's commit.
func (h *Hub) checkRevision(w http.ResponseWriter, r *http.Request, repo *Repo) bool {
	rev := r.PathValue("rev")
	if rev == "" || rev == "main" || rev == repo.Commit {
		return true
	}
	hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
	return false
}

// hubError answers like the Hub: status, X-Error-Code, X-Error-Message and
// a JSON body.
func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// writeJSON sends v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}
