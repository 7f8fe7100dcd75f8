package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine"
)

// TestRequestRing keeps the last RequestRingSize records, numbered in
// order, and returns those after an id.
func TestRequestRing(t *testing.T) {
	q := &requestRing{size: 3}
	if got, last := q.since(0); len(got) != 0 || last != 0 {
		t.Fatalf("empty ring: %v, last %d", got, last)
	}
	for i := range 5 {
		q.add(RequestRecord{Model: string(rune('a' + i))})
	}
	got, last := q.since(0)
	if last != 5 || len(got) != 3 || got[0].ID != 3 || got[0].Model != "c" || got[2].ID != 5 || got[2].Model != "e" {
		t.Fatalf("since(0) = %+v, last %d: want ids 3..5 (c..e), last 5", got, last)
	}
	if got, _ := q.since(4); len(got) != 1 || got[0].ID != 5 {
		t.Fatalf("since(4) = %+v, want id 5", got)
	}
	if got, _ := q.since(5); len(got) != 0 {
		t.Fatalf("since(5) = %+v, want none", got)
	}
}

// TestRequestLogRecords: a generation request handled through
// generationHandler is listed by GET /api/requests with its usage, cache
// explanation and status, and after= filters older ones out.
func TestRequestLogRecords(t *testing.T) {
	h := generationHandler("chat.completions", func(w http.ResponseWriter, _ *http.Request, l *requestLog) {
		l.setModel("m-test")
		time.Sleep(2 * time.Millisecond)
		l.output()
		l.done(engine.Event{Usage: engine.Usage{PromptTokens: 40, CachedTokens: 32, CompletionTokens: 11, CacheExplain: "32 cached tokens"},
			Timing: engine.Timing{Decode: 100 * time.Millisecond}})
		w.WriteHeader(http.StatusTeapot)
	})
	_, before := recentRequests.since(0)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/chat/completions", nil))

	var hh Handler
	w := httptest.NewRecorder()
	hh.handleRequests(w, httptest.NewRequest("GET", "/api/requests?after="+itoa(before), nil))
	var body RequestsBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 200 {
		t.Fatalf("GET /api/requests = %d %s (%v)", w.Code, w.Body, err)
	}
	if len(body.Requests) != 1 || body.Last != before+1 || body.Kept != RequestRingSize {
		t.Fatalf("body = %+v, want the one new request", body)
	}
	r := body.Requests[0]
	if r.Model != "m-test" || r.API != "chat.completions" || r.Status != http.StatusTeapot || r.PromptTokens != 40 ||
		r.CachedTokens != 32 || r.CacheExplain != "32 cached tokens" || r.CompletionTokens != 11 || r.TTFTMillis < 2 ||
		r.TokensPerSecond != 100 || r.DurationMillis < r.TTFTMillis {
		t.Fatalf("record = %+v", r)
	}
	w = httptest.NewRecorder()
	hh.handleRequests(w, httptest.NewRequest("GET", "/api/requests?after=x", nil))
	if w.Code != http.StatusBadRequest {
		t.Fatalf("after=x: %d %s, want 400", w.Code, w.Body)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
