package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// shortTimeouts are far below the tests' streams and trickles.
var shortTimeouts = Timeouts{Header: 300 * time.Millisecond, Body: 300 * time.Millisecond, Idle: 300 * time.Millisecond}

// timeoutApp starts the real app's listener with shortTimeouts and returns
// its host:port.
func timeoutApp(t *testing.T) (*App, string) {
	t.Helper()
	a := newTestApp(t, false)
	a.cfg.Timeouts = shortTimeouts
	if err := a.StartServer(); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.URL())
	return a, u.Host
}

// connClosedWithin trickles chunks to conn every 100ms and reports how long
// until the server ended the connection (or limit, when it never did), and
// what it answered.
func trickle(t *testing.T, conn net.Conn, head string, chunks []string, limit time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	ended := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server closes
		ended <- string(b)
	}()
	for _, c := range chunks {
		select {
		case answer := <-ended:
			return time.Since(start), answer
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := io.WriteString(conn, c); err != nil {
			break // closed by the server
		}
		if time.Since(start) > limit {
			break
		}
	}
	select {
	case answer := <-ended:
		return time.Since(start), answer
	case <-time.After(limit):
		return limit, ""
	}
}

// TestSlowHeadersAreCutOff: a slowloris client trickling header lines is
// disconnected once the header timeout passes.
func TestSlowHeadersAreCutOff(t *testing.T) {
	_, addr := timeoutApp(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var lines []string
	for i := range 60 {
		lines = append(lines, fmt.Sprintf("X-Trickle-%d: %d\r\n", i, i))
	}
	took, _ := trickle(t, conn, "GET /api/status HTTP/1.1\r\nHost: "+addr+"\r\n", lines, 6*time.Second)
	if took > 2*time.Second {
		t.Errorf("connection trickling headers lived %v, header timeout is %v", took, shortTimeouts.Header)
	}
}

// TestSlowBodyIsCutOff: a client trickling a request body a byte at a time
// is answered 408 and disconnected once the body timeout passes; the
// settings it was sending are not applied.
func TestSlowBodyIsCutOff(t *testing.T) {
	a, addr := timeoutApp(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"idle_unload_sec": 7}` + strings.Repeat(" ", 40)
	head := fmt.Sprintf("PUT /api/settings HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(body))
	var bytes []string
	for _, c := range body {
		bytes = append(bytes, string(c))
	}
	took, answer := trickle(t, conn, head, bytes, 8*time.Second)
	if took > 2*time.Second {
		t.Errorf("connection trickling its body lived %v, body timeout is %v", took, shortTimeouts.Body)
	}
	if !strings.HasPrefix(answer, "HTTP/1.1 408") {
		t.Errorf("answer to a trickled body: %q, want 408", firstLine(answer))
	}
	if s, _ := a.db.Settings(); s.IdleUnloadSec == 7 {
		t.Error("the cut-off body's settings were applied")
	}
	// A normal client is served meanwhile.
	resp, err := http.Get("http://" + addr + "/api/status")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status after the slow client: %v %v", resp, err)
	}
	resp.Body.Close()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}

// TestLongSSEStreamOutlivesTimeouts: the app's /api/events stream stays
// open and delivers events well past every timeout of the listener.
func TestLongSSEStreamOutlivesTimeouts(t *testing.T) {
	a, addr := timeoutApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "event:") {
				events <- sc.Text()
			}
		}
		close(events)
	}()
	start := time.Now()
	for time.Since(start) < 2*time.Second { // > 6 times each timeout
		a.Publish()
		time.Sleep(100 * time.Millisecond)
	}
	// Drain what came so far, then one more event must still arrive.
	for len(events) > 0 {
		if _, ok := <-events; !ok {
			t.Fatal("the event stream ended during the timeouts")
		}
	}
	a.Publish()
	select {
	case _, ok := <-events:
		if !ok {
			t.Fatal("the event stream ended during the timeouts")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no event after the timeouts passed")
	}
}

// TestStreamAfterBodyOutlivesTimeouts: a POST whose body arrives in time
// and whose answer is a long SSE stream (as a chat completion's) runs to its
// end, past the body and idle timeouts, on the listener's server.
func TestStreamAfterBodyOutlivesTimeouts(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /stream", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ N int }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range req.N {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(mux, shortTimeouts, context.Background())
	go srv.Serve(ln)
	defer srv.Close()
	start := time.Now()
	resp, err := http.Post("http://"+ln.Addr().String()+"/stream", "application/json", strings.NewReader(`{"N": 20}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || !strings.Contains(string(b), "data: 19\n\ndata: [DONE]") {
		t.Fatalf("stream after %v: %v, %q", time.Since(start), err, b)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("stream took %v, meant to outlast the timeouts", took)
	}
}
