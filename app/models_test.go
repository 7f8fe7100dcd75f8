package app

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/store/hub"
	"github.com/lmx-app/lmx/store/hub/hubtest"
)

const stories = "mlx-community/stories260k"

// fakeHubApp starts an app whose Hub is a fake serving the stories260k
// fixture (and a repo mlx-lm cannot run), with an empty library.
func fakeHubApp(t *testing.T) *App {
	t.Helper()
	h := hubtest.New(t)
	h.AddFolder(t, stories, filepath.Join(testutil.Fixtures(t), "models", "stories260k"))
	h.AddRepo("mlx-community/whisper-tiny", map[string][]byte{"config.json": []byte(`{"model_type":"whisper"}`)})
	h.AddRepo("someone-else/stories-copy", map[string][]byte{"config.json": []byte(`{"model_type":"llama"}`)})
	port := 0
	return startApp(t, openStore(t, h.URL), Overrides{Port: &port}, "")
}

// getJSON GETs url and decodes the body into v.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := call(t, "GET", url, "", "")
	if code != 200 {
		t.Fatalf("GET %s = %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, body)
	}
}

// waitDownload polls /api/downloads until id leaves the running states.
func waitDownload(t *testing.T, base, id string) hub.Progress {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var body api.DownloadsBody
		getJSON(t, base+"/api/downloads", &body)
		for _, p := range body.Downloads {
			if p.ID == id && p.State != "queued" && p.State != "running" {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("download %s did not finish in 30 s", id)
	return hub.Progress{}
}

func TestPullListServeAndDeleteThroughTheAPI(t *testing.T) {
	a := fakeHubApp(t)
	base := a.URL()
	if s := getStatus(t, base); s.ModelHint == "" || len(s.Models) != 0 {
		t.Fatalf("empty library: hint %q, models %v", s.ModelHint, s.Models)
	}
	code, body := call(t, "POST", base+"/api/models/pull", `{"repo":"`+stories+`"}`, "")
	if code != 202 || !strings.Contains(body, `"id":"`+stories+`@main"`) {
		t.Fatalf("pull = %d %s", code, body)
	}
	if p := waitDownload(t, base, stories+"@main"); p.State != "done" || p.FilesDone != p.FilesTotal || p.DoneBytes != p.TotalBytes {
		t.Fatalf("download ended %+v", p)
	}
	var local api.ModelsBody
	getJSON(t, base+"/api/models", &local)
	if len(local.Models) != 1 || local.Models[0].ID != stories || !local.Models[0].Supported ||
		local.Models[0].Architecture != "llama" || local.Models[0].AddedAt.IsZero() {
		t.Fatalf("library after pull: %+v", local.Models)
	}
	var list api.ModelList
	getJSON(t, base+"/v1/models", &list)
	if len(list.Data) != 1 || list.Data[0].ID != stories || list.Data[0].OwnedBy != "mlx-community" || list.Data[0].Object != "model" {
		t.Errorf("/v1/models after pull: %+v", list)
	}
	if s := getStatus(t, base); s.ModelHint != "" || len(s.Models) != 1 || len(s.Downloads) != 1 {
		t.Errorf("status after pull: hint %q, %d models, %d downloads", s.ModelHint, len(s.Models), len(s.Downloads))
	}
	code, body = call(t, "DELETE", base+"/api/models/"+stories, "", "")
	if code != 200 || strings.Contains(body, "stories260k") {
		t.Fatalf("delete = %d %s", code, body)
	}
	getJSON(t, base+"/v1/models", &list)
	if len(list.Data) != 0 {
		t.Errorf("/v1/models after delete: %+v", list)
	}
	if code, body := call(t, "DELETE", base+"/api/models/"+stories, "", ""); code != 404 || !strings.Contains(body, "model_not_found") {
		t.Errorf("second delete = %d %s, want 404 model_not_found", code, body)
	}
}

func TestLibraryErrorsThroughTheAPI(t *testing.T) {
	a := fakeHubApp(t)
	base := a.URL()
	cases := []struct {
		name, method, path, body string
		want                     int
		wantCode                 string
	}{
		// The Hub answers 401 for repos that do not exist or are private.
		{"pull of a repo the Hub hides", "POST", "/api/models/pull", `{"repo":"mlx-community/missing"}`, 403, "hub_token_required"},
		{"cancel of an unknown download", "POST", "/api/downloads/" + url.PathEscape(stories+"@main") + "/cancel", "", 404, "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := call(t, c.method, base+c.path, c.body, "")
			if code != c.want || !strings.Contains(body, `"code":"`+c.wantCode+`"`) {
				t.Errorf("%s %s = %d %s, want %d %s", c.method, c.path, code, body, c.want, c.wantCode)
			}
		})
	}
}

func TestCancelThroughTheAPI(t *testing.T) {
	a := fakeHubApp(t)
	base := a.URL()
	if code, body := call(t, "POST", base+"/api/models/pull", `{"repo":"`+stories+`"}`, ""); code != 202 {
		t.Fatalf("pull = %d %s", code, body)
	}
	waitDownload(t, base, stories+"@main")
	code, body := call(t, "POST", base+"/api/downloads/"+url.PathEscape(stories+"@main")+"/cancel", "", "")
	if code != 200 || strings.Contains(body, stories) {
		t.Errorf("cancel = %d %s, want the download forgotten", code, body)
	}
}

func TestHubSearchThroughTheAPI(t *testing.T) {
	a := fakeHubApp(t)
	cases := []struct {
		query string
		want  []string
	}{
		{"q=stories", []string{stories}},
		{"q=", []string{stories, "mlx-community/whisper-tiny"}},
		{"q=stories&author=someone-else", []string{"someone-else/stories-copy"}},
		{"q=nothing-like-this", nil},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			var body api.SearchBody
			getJSON(t, a.URL()+"/api/hub/search?"+c.query, &body)
			var got []string
			for _, m := range body.Models {
				got = append(got, m.ID)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("search %s = %v, want %v", c.query, got, c.want)
			}
		})
	}
}

func TestDownloadProgressOnTheEventStream(t *testing.T) {
	a := fakeHubApp(t)
	events := openEvents(t, a.URL())
	if code, body := call(t, "POST", a.URL()+"/api/models/pull", `{"repo":"`+stories+`"}`, ""); code != 202 {
		t.Fatalf("pull = %d %s", code, body)
	}
	done := make(chan api.Status, 1)
	go func() {
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				return
			}
			var s api.Status
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || json.Unmarshal([]byte(data), &s) != nil {
				continue
			}
			for _, d := range s.Downloads {
				if d.Repo == stories && d.State == "done" && len(s.Models) == 1 {
					done <- s
					return
				}
			}
		}
	}()
	select {
	case s := <-done:
		if s.ModelHint != "" || s.Models[0].ID != stories {
			t.Errorf("event after the download: hint %q, models %+v", s.ModelHint, s.Models)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no status event announced the finished download with the model installed")
	}
}
