package api

import (
	"fmt"
	"log"
	"net/http"
	"runtime/debug"
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
