package app

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// stats checks GET /api/stats and its event stream against the document;
// with a model loaded the snapshot carries its scheduler's counters.
func (c *docCheck) stats() {
	code, body := c.call("GET /api/stats", "", "")
	if code != 200 {
		c.t.Fatalf("GET /api/stats = %d %s", code, body)
	}
	code, body = c.call("GET /api/stats/stream", "/api/stats/stream?interval_ms=5", "")
	c.want(code, 400, "GET /api/stats/stream?interval_ms=5", body)
	code, body = c.call("GET /api/requests", "", "")
	c.want(code, 200, "GET /api/requests", body)
	code, body = c.call("GET /api/requests", "/api/requests?after=-1", "")
	c.want(code, 400, "GET /api/requests?after=-1", body)
	code, body = c.call("POST /api/cache/clear", "", "")
	c.want(code, 200, "POST /api/cache/clear", body)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.local+"/api/stats/stream?interval_ms=100", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for n := 0; n < 2; {
		ev := map[string]string{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				c.t.Fatalf("stats stream ended: %v", err)
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				break
			}
			field, value, _ := strings.Cut(line, ":")
			ev[field] += strings.TrimPrefix(value, " ")
		}
		js, _ := json.Marshal(ev)
		c.check("GET /api/stats/stream", resp.StatusCode, resp.Header.Get("Content-Type"), js)
		n++
	}
}
