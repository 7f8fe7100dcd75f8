package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/store"
)

// chatBackend is the fake backend with a real store for its chats.
type chatBackend struct {
	*fakeBackend
	db *store.DB
}

func (b chatBackend) Chats() ([]store.ChatSummary, error) { return b.db.Chats() }
func (b chatBackend) CreateChat(title, model string) (store.Chat, error) {
	return b.db.CreateChat(title, model)
}
func (b chatBackend) Chat(id string) (store.Chat, error) { return b.db.Chat(id) }
func (b chatBackend) EditChat(id string, edit func(*store.Chat) error) (store.Chat, error) {
	return b.db.EditChat(id, edit)
}
func (b chatBackend) DeleteChat(id string) error { return b.db.DeleteChat(id) }

func newChatHandler(t *testing.T) *Handler {
	db, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(Config{}, chatBackend{&fakeBackend{settings: store.DefaultSettings()}, db}, NewHub())
}

// TestChatsRoundTrip: a conversation keeps its settings (sampling, system
// prompt, tools) and messages (reasoning, tool calls, stats) through the
// API; renames apply; deleted ones are gone; a server without a chat store
// says so.
func TestChatsRoundTrip(t *testing.T) {
	h := newChatHandler(t)
	w := send(h, "POST", "/api/chats", `{"model":"m","settings":{"system":"Be brief.","temperature":0,"max_tokens":32,"reasoning_effort":"none",`+
		`"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],"tool_choice":"required"}}`, "127.0.0.1:1")
	if w.Code != 201 {
		t.Fatalf("create: %d %s", w.Code, w.Body)
	}
	var c store.Chat
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	if c.Title != DefaultChatTitle || c.Model != "m" || c.Settings.Temperature == nil || *c.Settings.Temperature != 0 ||
		c.Settings.ReasoningEffort != "none" || string(c.Settings.ToolChoice) != `"required"` {
		t.Errorf("created %+v", c)
	}
	msgs := `{"title":"  Weather  ","messages":[{"role":"user","content":"<b>hi</b>"},{"role":"assistant","content":"","reasoning":"think",` +
		`"tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{}"}}],"stats":{"completion_tokens":5,"ttft_ms":10,"tokens_per_sec":50,"finish_reason":"tool_calls"},"stopped":true}]}`
	if w := send(h, "PATCH", "/api/chats/"+c.ID, msgs, "127.0.0.1:1"); w.Code != 200 {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	w = send(h, "GET", "/api/chats/"+c.ID, "", "127.0.0.1:1")
	var got store.Chat
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	a := got.Messages[len(got.Messages)-1]
	if got.Title != "Weather" || len(got.Messages) != 2 || got.Messages[0].Content != "<b>hi</b>" || got.Messages[0].CreatedAt.IsZero() ||
		a.Reasoning != "think" || !a.Stopped || a.Stats == nil || a.Stats.TokensPerSec != 50 || !strings.Contains(string(a.ToolCalls), `"get_weather"`) ||
		got.Settings.System != "Be brief." {
		t.Errorf("after the patch: %+v", got)
	}
	w = send(h, "GET", "/api/chats", "", "127.0.0.1:1")
	if !strings.Contains(w.Body.String(), `"title":"Weather"`) || !strings.Contains(w.Body.String(), `"messages":2`) {
		t.Errorf("list: %s", w.Body)
	}
	if w := send(h, "DELETE", "/api/chats/"+c.ID, "", "127.0.0.1:1"); w.Code != 200 || w.Body.String() != "{\"chats\":[]}\n" {
		t.Errorf("delete: %d %s", w.Code, w.Body)
	}
	if w := send(h, "GET", "/api/chats/"+c.ID, "", "127.0.0.1:1"); w.Code != 404 {
		t.Errorf("get after delete: %d %s", w.Code, w.Body)
	}
	if w := send(New(Config{}, &fakeBackend{}, NewHub()), "GET", "/api/chats", "", "127.0.0.1:1"); w.Code != 409 {
		t.Errorf("without a chat store: %d %s", w.Code, w.Body)
	}
}

// TestChatsRefuseBadInput: every invalid field is a 400 naming it, and
// nothing is changed.
func TestChatsRefuseBadInput(t *testing.T) {
	h := newChatHandler(t)
	w := send(h, "POST", "/api/chats", `{"title":"keep"}`, "127.0.0.1:1")
	var c store.Chat
	_ = json.Unmarshal(w.Body.Bytes(), &c)
	tool := `[{"type":"function","function":{"name":"f"}}]`
	cases := []struct{ body, param string }{
		{`{"settings":{"temperature":2.5}}`, "settings.temperature"},
		{`{"settings":{"temperature":-1}}`, "settings.temperature"},
		{`{"settings":{"top_p":0}}`, "settings.top_p"},
		{`{"settings":{"max_tokens":0}}`, "settings.max_tokens"},
		{`{"settings":{"reasoning_effort":"max"}}`, "settings.reasoning_effort"},
		{`{"settings":{"tools":{"type":"function"}}}`, "settings.tools"},
		{`{"settings":{"tools":[{"type":"web_search"}]}}`, "settings.tools"},
		{`{"settings":{"tools":[{"type":"function","function":{"name":"bad name"}}]}}`, "settings.tools"},
		{`{"settings":{"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}}`, "settings.tools"},
		{`{"settings":{"tool_choice":"required"}}`, "settings.tool_choice"},
		{`{"settings":{"tools":` + tool + `,"tool_choice":"always"}}`, "settings.tool_choice"},
		{`{"settings":{"tools":` + tool + `,"tool_choice":{"type":"function","function":{"name":"g"}}}}`, "settings.tool_choice"},
		{`{"messages":[{"role":"robot","content":"x"}]}`, "messages"},
		{`{"messages":[{"role":"user","content":"x","tool_calls":[]}]}`, "messages"},
		{`{"messages":[{"role":"assistant","content":"x","tool_calls":{"id":1}}]}`, "messages"},
		{`{"title":"` + strings.Repeat("t", maxChatTitle+1) + `"}`, "title"},
		{`{"title":"   "}`, "title"},
		{`{"colour":"red"}`, ""},
	}
	for _, tc := range cases {
		w := send(h, "PATCH", "/api/chats/"+c.ID, tc.body, "127.0.0.1:1")
		var e ErrorBody
		_ = json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != 400 || (tc.param != "" && (e.Error.Param == nil || *e.Error.Param != tc.param)) {
			t.Errorf("PATCH %.60s = %d %s, want 400 naming %q", tc.body, w.Code, w.Body, tc.param)
		}
	}
	for _, id := range []string{"x", "..%2Fetc", "19ad8a1c2b3-0123456789aZ"} {
		if w := send(h, "GET", "/api/chats/"+id, "", "127.0.0.1:1"); w.Code != 400 {
			t.Errorf("GET /api/chats/%s = %d, want 400", id, w.Code)
		}
	}
	w = send(h, "GET", "/api/chats/"+c.ID, "", "127.0.0.1:1")
	var after store.Chat
	_ = json.Unmarshal(w.Body.Bytes(), &after)
	if after.Title != "keep" || len(after.Messages) != 0 || after.Settings.Temperature != nil || after.Settings.Tools != nil {
		t.Errorf("refused edits changed the chat: %+v", after)
	}
}
