package tray

import (
	"fmt"
	"strings"
)

// MaxModelItems is how many loaded models the menu lists one per line; more
// are summed up in one "+N more" line.
const MaxModelItems = 4

// The menu's fixed labels (the D-Bus test in app/guitest finds items by them).
const (
	LabelStart   = "Start server"
	LabelStop    = "Stop server"
	LabelCopyURL = "Copy endpoint URL"
	LabelOpen    = "Open LMX"
	LabelNewChat = "New chat"
	LabelQuit    = "Quit LMX"
	LabelNoModel = "No model loaded"
)

// Text is what the menu shows for one Status: pure data, so the labels are
// tested without a desktop.
type Text struct {
	// Server is the status line: "LMX running on :1235", "LMX stopped".
	Server string
	// Engine says the MLX runtime is unavailable; "" hides the line.
	Engine string
	// Models has one line per loaded model (at most MaxModelItems, then a
	// "+N more" line); LabelNoModel when none.
	Models []string
	// Memory is MLX's active memory; "" hides the line.
	Memory string
	// Toggle is LabelStart or LabelStop.
	Toggle string
	// CanCopy says whether there is an endpoint URL to copy.
	CanCopy bool
}

// MenuText returns the labels for s.
func MenuText(s Status) Text {
	t := Text{Toggle: LabelStart}
	switch {
	case s.Running:
		t.Server = fmt.Sprintf("LMX running on :%d", s.Port)
		t.Toggle, t.CanCopy = LabelStop, s.URL != ""
	case s.ServerError != "":
		t.Server = "LMX stopped: " + firstLine(s.ServerError, 60)
	default:
		t.Server = "LMX stopped"
	}
	if s.EngineError != "" {
		t.Engine = "MLX engine unavailable: open LMX for the fix"
	}
	for i, m := range s.Models {
		if i == MaxModelItems-1 && len(s.Models) > MaxModelItems {
			t.Models = append(t.Models, fmt.Sprintf("+%d more models", len(s.Models)-i))
			break
		}
		t.Models = append(t.Models, modelLine(m))
	}
	if len(t.Models) == 0 {
		t.Models = []string{LabelNoModel}
	}
	if s.MLXActiveBytes > 0 {
		t.Memory = "MLX memory: " + FormatBytes(s.MLXActiveBytes) + " active"
	}
	return t
}

// modelLine is "NAME — 412 MB" (NAME: the part after the last "/").
func modelLine(m Model) string {
	name := m.ID[strings.LastIndex(m.ID, "/")+1:]
	switch m.State {
	case "loading", "unloading":
		return name + " — " + m.State
	}
	return name + " — " + FormatBytes(m.Bytes)
}

// FormatBytes writes n in decimal units, as macOS does: "1.2 GB", "412 MB".
func FormatBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// firstLine is s's first line, cut to max runes.
func firstLine(s string, max int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
