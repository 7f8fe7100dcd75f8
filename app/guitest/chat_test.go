package guitest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestChatPageInChromium drives the Chat page of a real `lmx serve` serving
// the demo chat model (SmolLM2-135M-Instruct) and a tiny Qwen3 model with
// Qwen3's real template in headless Chromium with frontend/tests/chat.mjs:
// a conversation is started, given settings, renamed; a reply streams from
// the demo model with its speed and time to first token; a long reply is
// stopped mid-stream and kept as stopped; a conversation whose tools are
// forced (tool_choice required) shows the call as a call; model output
// with <script>, HTML with event handlers and markdown links (stored, and
// streamed) runs nothing and its links are safe; the conversation is
// deleted; axe-core passes in light and dark, and the page is screenshot in
// both.
func TestChatPageInChromium(t *testing.T) {
	frontend := requireBrowser(t)
	demo := testmodel.Demo(t)
	qwen := testmodel.Qwen3Tiny(t, t.TempDir(), "qwen3-tiny")
	url := Serve(t, Build(t), append(os.Environ(), "LMX_CACHE_DIR="+t.TempDir()), "--model", demo, "--model", qwen)
	runScript(t, frontend, "chat.mjs", 5*time.Minute, url, filepath.Join(testutil.RepoRoot(t), "test-artifacts"), demo, qwen)
}
