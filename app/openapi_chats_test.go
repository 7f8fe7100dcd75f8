package app

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/hub/hubtest"
)

// Steps of TestManagementAPIMatchesItsDocument for the Models page's
// download controls, Hub details and GGUF import, and the Chat page's
// conversations.

// downloadControls points the library at a second fake Hub whose weights
// trickle, so a download is running when it is paused; it is resumed and
// finishes. The repo's details and fit are read, and their errors
// provoked (a gated repo, a missing one, a Hub that is down).
func (c *docCheck) downloadControls() {
	s, err := c.app.Settings()
	if err != nil {
		c.t.Fatal(err)
	}
	const slow = "mlx-community/slow-stories"
	h := hubtest.New(c.t)
	r := h.AddFolder(c.t, slow, filepath.Join(testutil.Fixtures(c.t), "models", "stories260k"))
	h.SetFault(r, "model.safetensors", hubtest.Fault{BytesPerSec: 256 << 10})
	gated := h.AddRepo("mlx-community/gated", map[string][]byte{"config.json": []byte(`{"model_type":"llama"}`)})
	gated.Gated, gated.Token = true, "hf_accepted"
	h.AddRepo("mlx-community/no-config", map[string][]byte{"README.md": []byte("# not a model")})
	id := url.PathEscape(slow + "@main")
	dead := "http://127.0.0.1:" + strconv.Itoa(freePort(c.t))
	c.run([]step{
		{"PUT /api/settings", "", `{"library":{"endpoint":"` + h.URL + `"}}`, 200},
		{"GET /api/hub/model", "/api/hub/model?repo=" + slow, "", 200},
		{"GET /api/hub/model", "/api/hub/model?repo=..%2Fetc", "", 400},
		{"GET /api/hub/model", "/api/hub/model?repo=mlx-community/gated", "", 403},
		{"GET /api/hub/model", "/api/hub/model?repo=mlx-community/missing", "", 403},
		{"GET /api/hub/model", "/api/hub/model?repo=mlx-community/no-config", "", 404},
		{"POST /api/downloads/{id}/pause", "/api/downloads/" + id + "/pause", "", 404},
		{"POST /api/downloads/{id}/resume", "/api/downloads/" + id + "/resume", "", 404},
		{"POST /api/models/pull", "", `{"repo":"` + slow + `"}`, 202},
		{"POST /api/downloads/{id}/pause", "/api/downloads/" + id + "/pause", "", 200},
		{"POST /api/downloads/{id}/pause", "/api/downloads/main/pause", "", 400},
		{"POST /api/downloads/{id}/resume", "/api/downloads/main/resume", "", 400},
	})
	var d api.DownloadsBody
	_, body := c.send("GET", "/api/downloads", "")
	if json.Unmarshal(body, &d) != nil || len(d.Downloads) == 0 || d.Downloads[0].State != "paused" {
		c.t.Errorf("after the pause the downloads are %s, want %s paused", body, slow)
	}
	c.run([]step{{"POST /api/downloads/{id}/resume", "/api/downloads/" + id + "/resume", "", 200}})
	c.poll("GET /api/downloads", time.Minute, func(b []byte) bool { return strings.Contains(string(b), `"state":"done"`) })
	var hm api.HubModel
	_, body = c.send("GET", "/api/hub/model?repo="+slow, "")
	if json.Unmarshal(body, &hm) != nil || hm.Fit == nil || hm.Fit.WeightsBytes != int64(len(r.Files["model.safetensors"])) {
		c.t.Errorf("GET /api/hub/model = %s, want the weights' size and a fit", body)
	}
	c.run([]step{
		{"POST /api/downloads/{id}/cancel", "/api/downloads/" + id + "/cancel", "", 200},
		{"DELETE /api/models/{repo}", "/api/models/" + slow, "", 200},
		{"PUT /api/settings", "", `{"library":{"endpoint":"` + dead + `"}}`, 200},
		{"GET /api/hub/model", "/api/hub/model?repo=" + slow, "", 500},
		{"PUT /api/settings", "", `{"library":{"endpoint":"` + s.Library.Endpoint + `"}}`, 200},
	})
}

// importGGUF imports the demo model's GGUF file (installed by demoInstall,
// so the import is found by its hash) and refuses paths that are not
// importable GGUF files: relative, missing, another format, truncated.
func (c *docCheck) importGGUF() {
	var s api.Status
	_, body := c.send("GET", "/api/status", "")
	if err := json.Unmarshal(body, &s); err != nil || s.Demo == nil {
		c.t.Fatalf("no demo install in the status: %s", body)
	}
	dir := c.t.TempDir()
	notGGUF := filepath.Join(dir, "notes.gguf")
	truncated := filepath.Join(dir, "truncated.gguf")
	if err := os.WriteFile(notGGUF, []byte("these are notes, not a model"), 0o600); err != nil {
		c.t.Fatal(err)
	}
	head, err := readHead(s.Demo.Path, 1<<20)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(truncated, head, 0o600); err != nil {
		c.t.Fatal(err)
	}
	jsonPath := func(p string) string { b, _ := json.Marshal(map[string]string{"path": p}); return string(b) }
	want := map[bool]int{true: 201, false: 503}[s.Engine.Available]
	code, body := c.call("POST /api/models/import", "", jsonPath(s.Demo.Path))
	c.want(code, want, "POST /api/models/import the demo GGUF", body)
	for _, p := range []string{"", "relative.gguf", filepath.Join(dir, "missing.gguf"), notGGUF, truncated, filepath.Join(dir, "model.bin")} {
		code, body := c.call("POST /api/models/import", "", jsonPath(p))
		c.want(code, 400, "POST /api/models/import "+p, body)
	}
}

// readHead reads the first n bytes of path.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := f.Read(buf)
	return buf[:k], err
}

// chats creates, reads, renames, configures and deletes a conversation,
// and sends what the API refuses.
func (c *docCheck) chats() {
	code, body := c.call("POST /api/chats", "", `{"title":"Doc chat","settings":{"temperature":0.5}}`)
	c.want(code, 201, "POST /api/chats", body)
	var chat struct{ ID string }
	if err := json.Unmarshal(body, &chat); err != nil || chat.ID == "" {
		c.t.Fatalf("POST /api/chats answered %s", body)
	}
	one := "/api/chats/" + chat.ID
	missing := "/api/chats/1-000000000000"
	tools := `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`
	c.run([]step{
		{"GET /api/chats", "", "", 200},
		{"POST /api/chats", "", `{}`, 201},
		{"POST /api/chats", "", `{"settings":{"temperature":3}}`, 400},
		{"POST /api/chats", "", `{"bogus":1}`, 400},
		{"GET /api/chats/{id}", one, "", 200},
		{"GET /api/chats/{id}", missing, "", 404},
		{"GET /api/chats/{id}", "/api/chats/..%2Fx", "", 400},
		{"PATCH /api/chats/{id}", one, `{"title":"Renamed","model":"m","settings":{"system":"Be brief.","top_p":0.9,"max_tokens":64,"tools":` + tools + `,"tool_choice":"required"}}`, 200},
		{"PATCH /api/chats/{id}", one, `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{}"}}],"stats":{"completion_tokens":3,"ttft_ms":12.5,"tokens_per_sec":40}}]}`, 200},
		{"PATCH /api/chats/{id}", one, `{"settings":{"tools":` + tools + `,"tool_choice":{"type":"function","function":{"name":"other"}}}}`, 400},
		{"PATCH /api/chats/{id}", one, `{"messages":[{"role":"robot","content":"hi"}]}`, 400},
		{"PATCH /api/chats/{id}", missing, `{"title":"x"}`, 404},
		{"DELETE /api/chats/{id}", one, "", 200},
		{"DELETE /api/chats/{id}", one, "", 404},
		{"DELETE /api/chats/{id}", "/api/chats/x", "", 400},
	})
}
