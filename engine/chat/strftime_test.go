package chat

import (
	"testing"
	"time"
)

// TestStrftime checks the patterns chat templates pass to strftime_now
// (Llama 3.x: "%d %b %Y"; others "%Y-%m-%d", "%-d %B") against C strftime.
func TestStrftime(t *testing.T) {
	at := time.Date(2024, time.July, 5, 14, 3, 9, 0, time.UTC)
	cases := map[string]string{
		"%d %b %Y":          "05 Jul 2024",
		"%Y-%m-%d":          "2024-07-05",
		"%-d %B %Y":         "5 July 2024",
		"%A, %H:%M:%S %p":   "Friday, 14:03:09 PM",
		"%I%% %j %y %a %e":  "02% 187 24 Fri  5",
		"no verbs, 100% ok": "no verbs, 100% ok",
	}
	for pattern, want := range cases {
		if got := strftime(at, pattern); got != want {
			t.Errorf("strftime(%q) = %q, want %q", pattern, got, want)
		}
	}
}
