package apitest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/app/api"
	"github.com/lmx-app/lmx/app/guitest"
	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/internal/mlxtest"
)

// followUpInput is the second user turn of the follow-up tests.
const followUpInput = "Go on."

// turnReference is what the Anthropic and Responses tests need besides
// reference: the rendered story prompt's length and the greedy follow-up.
type turnReference struct {
	storyPrompt int
	followUp    string
}

// serveForTurns starts `lmx serve` with the test model (extra flags
// appended) and computes the engine's greedy answers for it.
func serveForTurns(t *testing.T, extra ...string) (*server, turnReference, string) {
	t.Helper()
	mlxtest.Require(t)
	dir := chatModel(t)
	s := &server{dir: dir, model: filepath.Base(dir), ref: engineReference(t, dir)}
	turns := engineTurns(t, dir, s.ref.story)
	bin := guitest.Build(t)
	s.url = guitest.Serve(t, bin, os.Environ(), append([]string{"--model", dir}, extra...)...)
	waitLoaded(t, s.url, "", dir)
	return s, turns, bin
}

// waitLoaded waits until the server lists dir as loaded: `lmx serve` prints
// its URL before it loads the --model folders, so a first request could
// otherwise find no model.
func waitLoaded(t *testing.T, url, key, dir string) {
	t.Helper()
	c := &client{t: t, url: url, key: key}
	loaded := func() bool {
		code, b := c.do("GET", "/v1/models", "", nil)
		if code != http.StatusOK {
			return false
		}
		return slices.ContainsFunc(decode[api.ModelList](t, b).Data, func(m api.Model) bool { return m.ID == dir && m.Loaded })
	}
	if !waitFor(30*time.Second, loaded) {
		t.Fatalf("%s is not loaded 30 s after the server started", dir)
	}
}

// engineTurns loads dir in this process and renders and answers the
// multi-turn conversation greedily.
func engineTurns(t *testing.T, dir, story string) turnReference {
	t.Helper()
	ctx := context.Background()
	m, err := engine.Load(ctx, dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	p, err := m.RenderChat(engine.ChatRequest{Messages: storyMessages})
	if err != nil {
		t.Fatal(err)
	}
	msgs := append(append([]chat.Message{}, storyMessages...),
		chat.Message{Role: "assistant", Content: story}, chat.Message{Role: "user", Content: followUpInput})
	s, err := m.Chat(ctx, engine.ChatRequest{Messages: msgs, Params: engine.Params{MaxTokens: greedyTokens}})
	if err != nil {
		t.Fatal(err)
	}
	r := engine.Collect(s)
	if r.Err != nil || r.Text == "" {
		t.Fatalf("engine follow-up: %q %v", r.Text, r.Err)
	}
	return turnReference{storyPrompt: len(p.IDs), followUp: r.Text}
}

// namedEvent is one server-sent event with its name.
type namedEvent struct {
	name string
	data json.RawMessage
}

// postEvents posts a streaming request and reads its named events; the
// stream must be text/event-stream and every event's data must name its
// own type.
func postEvents(t *testing.T, url, body string, header map[string]string) []namedEvent {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var evs []namedEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			evs = append(evs, namedEvent{name: name})
		} else if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok && len(evs) > 0 {
			evs[len(evs)-1].data = json.RawMessage(data)
		}
	}
	for _, e := range evs {
		var typed struct{ Type string }
		if err := json.Unmarshal(e.data, &typed); err != nil || typed.Type != e.name {
			t.Fatalf("event %s carries %s", e.name, e.data)
		}
	}
	return evs
}

// anthropicOrder is Anthropic's event grammar for a text answer: ping right
// after the first block opens; deltas only inside blocks.
var anthropicOrder = regexp.MustCompile(`^message_start (content_block_start (ping )?(content_block_delta )*content_block_stop )*(ping )?message_delta message_stop $`)

// checkAnthropicOrder fails unless names follow Anthropic's grammar with
// exactly one ping (withPing) or none (SDKs that drop pings).
func checkAnthropicOrder(t *testing.T, sdk string, names []string, withPing bool) {
	t.Helper()
	seq := strings.Join(names, " ") + " "
	pings := strings.Count(seq, "ping ")
	if !anthropicOrder.MatchString(seq) || (withPing && pings != 1) || (!withPing && pings > 1) {
		t.Errorf("%s: event order %v breaks Anthropic's message stream grammar", sdk, names)
	}
}

// scriptOutput runs an SDK script and returns what it prints.
func scriptOutput(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %s: %v\n%s\n%s", name, args[0], err, out, stderr)
	}
	return out
}
