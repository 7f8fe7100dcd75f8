package api

import (
	"fmt"
	"log"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/lmx-app/lmx/engine"
)

// statusClientGone is the status logged for a request whose client left
// before the answer ended (nginx's 499); the client never sees it.
const statusClientGone = 499

// requestLog gathers the facts of one generation request for its one log
// line: API, model, prompt tokens (cached), completion tokens, time to first
// token, decode speed and status. The handlers of every generation API
// (OpenAI, Anthropic, Responses) fill it through generationHandler. Safe for
// concurrent use (the n choices of a request report from their goroutines).
type requestLog struct {
	api   string
	start time.Time

	mu        sync.Mutex
	model     string
	first     time.Duration
	prompt    int
	cached    int
	explain   string // the prefix cache's account of the prompt
	generated int
	decode    time.Duration
	decoded   int // tokens generated after each choice's first
}

// setModel records the model the request named.
func (l *requestLog) setModel(name string) {
	l.mu.Lock()
	l.model = name
	l.mu.Unlock()
}

// output marks the request's first output (text, reasoning or tool call);
// later calls change nothing.
func (l *requestLog) output() {
	l.mu.Lock()
	if l.first == 0 {
		l.first = time.Since(l.start)
	}
	l.mu.Unlock()
}

// done adds one generation's usage and timing from its EventDone. The
// prompt counts once however many choices share it.
func (l *requestLog) done(e engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prompt = max(l.prompt, e.Usage.PromptTokens)
	l.cached = max(l.cached, e.Usage.CachedTokens)
	if e.Usage.CacheExplain != "" {
		l.explain = e.Usage.CacheExplain
	}
	l.generated += e.Usage.CompletionTokens
	if e.Usage.CompletionTokens > 1 && e.Timing.Decode > 0 {
		l.decode += e.Timing.Decode
		l.decoded += e.Usage.CompletionTokens - 1
	}
}

// line is the log line for a request that ended with status.
func (l *requestLog) line(status int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	model := l.model
	if model == "" {
		model = "-"
	}
	ttft, tps := "-", "-"
	if l.first > 0 {
		ttft = l.first.Round(time.Millisecond).String()
	}
	if l.decode > 0 {
		tps = fmt.Sprintf("%.1f", float64(l.decoded)/l.decode.Seconds())
	}
	cache := ""
	if l.explain != "" {
		cache = " cache=[" + l.explain + "]"
	}
	return fmt.Sprintf("%s model=%s prompt_tokens=%d (cached %d) completion_tokens=%d ttft=%s tokens/s=%s%s status=%d in %s",
		l.api, model, l.prompt, l.cached, l.generated, ttft, tps, cache, status, time.Since(l.start).Round(time.Millisecond))
}

// RequestRecord is one finished generation request as GET /api/requests
// lists it: the facts of its log line.
type RequestRecord struct {
	// ID numbers the requests of this process from 1, in the order they ended.
	ID    int64     `json:"id"`
	Time  time.Time `json:"time"` // when the request arrived
	API   string    `json:"api"`  // "chat.completions", "messages", …
	Model string    `json:"model"`
	// Status is the HTTP status sent; 499 when the client left first.
	Status       int `json:"status"`
	PromptTokens int `json:"prompt_tokens"`
	// CachedTokens of the prompt came from the prefix cache; CacheExplain
	// is the cache's account of the prompt (how much matched, where it
	// diverged and why), empty when the request ran no generation.
	CachedTokens     int    `json:"cached_tokens"`
	CacheExplain     string `json:"cache_explain,omitempty"`
	CompletionTokens int    `json:"completion_tokens"`
	// TTFTMillis is the time to the first output; 0 when there was none.
	TTFTMillis float64 `json:"time_to_first_token_ms"`
	// TokensPerSecond is the decode speed after the first token; 0 when
	// fewer than two tokens were generated.
	TokensPerSecond float64 `json:"tokens_per_second"`
	DurationMillis  float64 `json:"duration_ms"`
}

// record is the RequestRecord of a request that ended with status (ID
// left for the ring to give).
func (l *requestLog) record(status int) RequestRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := RequestRecord{Time: l.start, API: l.api, Model: l.model, Status: status, PromptTokens: l.prompt,
		CachedTokens: l.cached, CacheExplain: l.explain, CompletionTokens: l.generated,
		TTFTMillis: ms(l.first), DurationMillis: ms(time.Since(l.start))}
	if l.decode > 0 {
		r.TokensPerSecond = float64(l.decoded) / l.decode.Seconds()
	}
	return r
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// RequestRingSize is how many finished requests GET /api/requests keeps.
const RequestRingSize = 200

// recentRequests is the process's ring of finished generation requests
// (the log lines, kept for the dashboard): one per process, like the log.
var recentRequests = &requestRing{size: RequestRingSize}

// requestRing keeps the last size records. Safe for concurrent use.
type requestRing struct {
	mu     sync.Mutex
	size   int
	next   int64 // the ID the next record gets, minus one
	buf    []RequestRecord
	oldest int // index of the oldest record in buf once it is full
}

// add numbers r and keeps it, dropping the oldest record when full.
func (q *requestRing) add(r RequestRecord) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next++
	r.ID = q.next
	if len(q.buf) < q.size {
		q.buf = append(q.buf, r)
		return
	}
	q.buf[q.oldest] = r
	q.oldest = (q.oldest + 1) % q.size
}

// since returns the kept records with an ID above after, oldest first, and
// the last ID given so far.
func (q *requestRing) since(after int64) ([]RequestRecord, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := []RequestRecord{}
	for i := range q.buf {
		r := q.buf[(q.oldest+i)%len(q.buf)]
		if r.ID > after {
			out = append(out, r)
		}
	}
	return out, q.next
}

// RequestsBody is the body of GET /api/requests.
type RequestsBody struct {
	// Requests are the kept requests after the query's "after", oldest first.
	Requests []RequestRecord `json:"requests"`
	// Last is the ID of the latest request ended (0: none yet); pass it as
	// "after" to get only newer ones.
	Last int64 `json:"last"`
	// Kept is how many requests the server keeps (the oldest go first).
	Kept int `json:"kept"`
}

// handleRequests serves GET /api/requests[?after=ID].
func (h *Handler) handleRequests(w http.ResponseWriter, r *http.Request) {
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, paramErr("after", "after %q must be a request id (a whole number, 0 or more)", v))
			return
		}
		after = n
	}
	reqs, last := recentRequests.since(after)
	writeJSON(w, http.StatusOK, RequestsBody{Requests: reqs, Last: last, Kept: RequestRingSize})
}

// generationHandler wraps a generation endpoint: it writes the request's log
// line to the standard logger when the handler returns, and turns a panic
// into a 500 in the OpenAI error shape (or, once a stream has started, ends
// the response) so the process keeps serving.
func generationHandler(api string, fn func(http.ResponseWriter, *http.Request, *requestLog)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := &requestLog{api: api, start: time.Now()}
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Printf("%s: panic: %v\n%s", api, v, debug.Stack())
				if !sw.wrote {
					writeError(sw, fmt.Errorf("internal error: %v", v))
				}
			}
			status := sw.status()
			if r.Context().Err() != nil {
				status = statusClientGone
			}
			log.Print(l.line(status))
			recentRequests.add(l.record(status))
		}()
		fn(sw, r, l)
	}
}

// statusWriter records the status a handler sent; it passes Flush through
// so streaming works.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

// WriteHeader records code and sends it.
func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write sends b, with an implicit 200 first.
func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.code, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

// Flush sends buffered data to the client.
func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// status is the status sent, or 200 when nothing was written.
func (s *statusWriter) status() int {
	if !s.wrote {
		return http.StatusOK
	}
	return s.code
}
