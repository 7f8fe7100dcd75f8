package tray

import (
	"fmt"
	"slices"
	"testing"
)

func TestMenuText(t *testing.T) {
	models := func(n int) []Model {
		var ms []Model
		for i := range n {
			ms = append(ms, Model{ID: fmt.Sprintf("mlx-community/m%d", i), Bytes: int64(i+1) * 1e9, State: "loaded"})
		}
		return ms
	}
	for _, c := range []struct {
		name string
		in   Status
		want Text
	}{
		{"running with a model", Status{Running: true, URL: "http://127.0.0.1:1235", Port: 1235, MLXActiveBytes: 2_500_000_000,
			Models: []Model{{ID: "mlx-community/Qwen3-0.6B-4bit", Bytes: 412_000_000, State: "loaded"}}},
			Text{Server: "LMX running on :1235", Models: []string{"Qwen3-0.6B-4bit — 412 MB"}, Memory: "MLX memory: 2.5 GB active",
				Toggle: LabelStop, CanCopy: true}},
		{"stopped", Status{}, Text{Server: "LMX stopped", Models: []string{LabelNoModel}, Toggle: LabelStart}},
		{"port in use", Status{ServerError: "listen tcp 127.0.0.1:1235: bind: address already in use\nmore"},
			Text{Server: "LMX stopped: listen tcp 127.0.0.1:1235: bind: address already in use",
				Models: []string{LabelNoModel}, Toggle: LabelStart}},
		{"engine unavailable", Status{Running: true, URL: "http://127.0.0.1:9", Port: 9, EngineError: "libmlx not found"},
			Text{Server: "LMX running on :9", Engine: "MLX engine unavailable: open LMX for the fix",
				Models: []string{LabelNoModel}, Toggle: LabelStop, CanCopy: true}},
		{"loading", Status{Models: []Model{{ID: "a/b", State: "loading", Bytes: 5}}},
			Text{Server: "LMX stopped", Models: []string{"b — loading"}, Toggle: LabelStart}},
		{"exactly the maximum", Status{Models: models(MaxModelItems)},
			Text{Server: "LMX stopped", Models: []string{"m0 — 1.0 GB", "m1 — 2.0 GB", "m2 — 3.0 GB", "m3 — 4.0 GB"}, Toggle: LabelStart}},
		{"more than fit", Status{Models: models(MaxModelItems + 2)},
			Text{Server: "LMX stopped", Models: []string{"m0 — 1.0 GB", "m1 — 2.0 GB", "m2 — 3.0 GB", "+3 more models"}, Toggle: LabelStart}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := MenuText(c.in)
			if got.Server != c.want.Server || got.Engine != c.want.Engine || got.Memory != c.want.Memory ||
				got.Toggle != c.want.Toggle || got.CanCopy != c.want.CanCopy || !slices.Equal(got.Models, c.want.Models) {
				t.Errorf("MenuText(%+v)\n got %+v\nwant %+v", c.in, got, c.want)
			}
			if len(got.Models) > MaxModelItems {
				t.Errorf("%d model lines, the menu has %d", len(got.Models), MaxModelItems)
			}
		})
	}
}

func TestClipboardTools(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	names := func(tools [][]string) []string {
		var n []string
		for _, tool := range tools {
			n = append(n, tool[0])
		}
		return n
	}
	if got := names(clipboardTools("darwin", env(nil))); !slices.Equal(got, []string{"pbcopy"}) {
		t.Errorf("macOS: %v", got)
	}
	if got := names(clipboardTools("linux", env(map[string]string{"DISPLAY": ":0"}))); !slices.Equal(got, []string{"xclip", "xsel"}) {
		t.Errorf("X11: %v", got)
	}
	if got := names(clipboardTools("linux", env(map[string]string{"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}))); !slices.Equal(got, []string{"wl-copy", "xclip", "xsel"}) {
		t.Errorf("Wayland: %v", got)
	}
	if got := clipboardTools("linux", env(nil)); len(got) != 0 {
		t.Errorf("no display: %v", got)
	}
}
