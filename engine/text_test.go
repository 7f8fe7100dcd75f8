package engine

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/tokenizer"
	"github.com/lmx-app/lmx/internal/mlxtest"
	"github.com/lmx-app/lmx/internal/testutil"
	"github.com/lmx-app/lmx/metal"
)

// singleTurn reads the golden record "single" (one user message, generation
// prompt added) of a tokenizer's chat goldens.
func singleTurn(t *testing.T, name string) (content, rendered string) {
	type record struct {
		Name     string `json:"name"`
		Messages []struct {
			Content string `json:"content"`
		} `json:"messages"`
		Rendered string `json:"rendered"`
	}
	path := filepath.Join(testutil.Fixtures(t), "goldens", "chat_"+name+".jsonl")
	for _, r := range testutil.ReadJSONL[record](t, path) {
		if r.Name == "single" {
			return r.Messages[0].Content, r.Rendered
		}
	}
	t.Fatalf("no record \"single\" in chat_%s.jsonl", name)
	return "", ""
}

// textOnly is a Model with a tokenizer and template but no weights: enough
// to render and tokenize prompts.
func textOnly(t *testing.T, dir string) *Model {
	txt, err := loadText(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Model{text: txt}
}

func TestRenderChatTokenizesTheTemplate(t *testing.T) {
	for _, name := range []string{"qwen3", "llama3_1", "gemma3"} {
		t.Run(name, func(t *testing.T) {
			m := textOnly(t, filepath.Join(testutil.Fixtures(t), "tokenizers", name))
			content, rendered := singleTurn(t, name)
			p, err := m.RenderChat(ChatRequest{Messages: []chat.Message{{Role: "user", Content: content}}})
			if err != nil {
				t.Fatal(err)
			}
			if p.Text != rendered {
				t.Errorf("rendered\n%q\nwant\n%q", p.Text, rendered)
			}
			// Decoding without skipping specials shows every token, so a
			// second BOS or a special token split into text shows.
			if got := m.text.tok.Decode(p.IDs, false); got != rendered {
				t.Errorf("chat prompt decodes to\n%q\nwant the template's\n%q", got, rendered)
			}
		})
	}
}

func TestCompletionPromptAddsBOSOnce(t *testing.T) {
	dir := filepath.Join(testutil.Fixtures(t), "tokenizers", "llama3_1")
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	plain := encodePrompt(tok, "Hello", true)
	if want := tok.Encode("Hello", true); !slices.Equal(plain, want) {
		t.Errorf("ids %v, want encode with special tokens %v", plain, want)
	}
	bos, _ := tok.BOS()
	withBOS := encodePrompt(tok, tok.Token(bos)+"Hello", true)
	if n := strings.Count(tok.Decode(withBOS, false), tok.Token(bos)); n != 1 {
		t.Errorf("a prompt starting with BOS got %d BOS tokens: %v", n, withBOS)
	}
	if raw := encodePrompt(tok, "Hello", false); slices.Contains(raw, bos) {
		t.Errorf("no special tokens asked, got BOS: %v", raw)
	}
}

func TestToolChoice(t *testing.T) {
	tools := []byte(`[{"type":"function","function":{"name":"a"}},{"type":"function","function":{"name":"b","parameters":{}}}]`)
	tests := []struct {
		choice  ToolChoice
		want    string
		wantErr bool
	}{
		{"", string(tools), false},
		{ToolChoiceAuto, string(tools), false},
		{ToolChoiceRequired, string(tools), false},
		{ToolChoiceNone, "", false},
		{"b", `[{"type":"function","function":{"name":"b","parameters":{}}}]`, false},
		{"c", "", true},
	}
	for _, tt := range tests {
		got, err := chooseTools(tools, tt.choice)
		if (err != nil) != tt.wantErr || string(got) != tt.want {
			t.Errorf("choice %q: got %s, %v; want %s (error %v)", tt.choice, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("choice %q: error %v is not ErrInvalidRequest", tt.choice, err)
		}
	}
}

func TestStopFilter(t *testing.T) {
	tests := []struct {
		name   string
		stops  []string
		deltas []string
		want   string
		hit    bool
	}{
		{"no stops", nil, []string{"ab", "c"}, "abc", false},
		{"whole delta", []string{"END"}, []string{"one ", "END", " two"}, "one ", true},
		{"split over deltas", []string{"END"}, []string{"one E", "N", "D two"}, "one ", true},
		{"prefix released", []string{"END"}, []string{"one E", "Nx"}, "one ENx", false},
		{"earliest of two", []string{"b", "a"}, []string{"xxab"}, "xx", true},
		{"held at the end", []string{"ENDS"}, []string{"the EN"}, "the EN", false},
		{"multibyte", []string{"世界"}, []string{"你好世", "界!"}, "你好", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := stopFilter{stops: tt.stops}
			var out strings.Builder
			hit := false
			for _, d := range tt.deltas {
				s, h := f.add(d)
				out.WriteString(s)
				hit = hit || h
			}
			if !hit {
				out.WriteString(f.flush())
			}
			if out.String() != tt.want || hit != tt.hit {
				t.Errorf("got %q hit %v, want %q hit %v", out.String(), hit, tt.want, tt.hit)
			}
		})
	}
}

// loadStories loads the stories260k fixture, a real trained model with a
// tokenizer (no chat template).
func loadStories(t *testing.T) (*Model, *storiesRef) {
	mlxtest.Require(t)
	dir := filepath.Join(testutil.Fixtures(t), "models", "stories260k")
	m, err := Load(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	ref := &storiesRef{}
	err = metal.Do(context.Background(), func() error {
		_, meta, err := metal.LoadSafetensors(filepath.Join(dir, "reference.safetensors"))
		ref.fromBOS, ref.prompt, ref.promptGreedy = meta["greedy_from_bos_text"], meta["prompt_text"], meta["prompt_greedy_text"]
		return err
	})
	if err != nil || ref.fromBOS == "" || ref.prompt == "" {
		t.Fatalf("reference metadata: %v", err)
	}
	return m, ref
}

type storiesRef struct{ fromBOS, prompt, promptGreedy string }

func TestCompleteStreamsTheReferenceText(t *testing.T) {
	m, ref := loadStories(t)
	ctx := context.Background()
	s, err := m.Complete(ctx, CompletionRequest{Text: ref.prompt, AddSpecial: true, Params: Params{MaxTokens: 64, Logprobs: true, TopLogprobs: 2}})
	if err != nil {
		t.Fatal(err)
	}
	r := Collect(s)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Text != ref.promptGreedy {
		t.Errorf("completion\n%q\nwant\n%q", r.Text, ref.promptGreedy)
	}
	if len(r.Logprobs) != r.Usage.CompletionTokens || r.Usage.CompletionTokens == 0 {
		t.Fatalf("%d logprobs for %d tokens", len(r.Logprobs), r.Usage.CompletionTokens)
	}
	var joined strings.Builder
	for _, lp := range r.Logprobs {
		joined.WriteString(lp.Text)
		// Greedy: the chosen token is the most likely one.
		if len(lp.Top) != 2 || lp.Top[0].ID != lp.ID || lp.Top[0].Logprob != lp.Logprob || !(lp.Logprob <= 0) {
			t.Fatalf("token %+v", lp)
		}
	}
	if !strings.Contains(ref.prompt+joined.String(), strings.TrimSpace(r.Text)) {
		t.Errorf("token texts %q do not spell the completion %q", joined.String(), r.Text)
	}
	if r.Usage.PromptTokens != len(s.Prompt.IDs) || r.FinishReason == "" {
		t.Errorf("usage %+v finish %q", r.Usage, r.FinishReason)
	}
}

func TestCompleteStopsAtStopString(t *testing.T) {
	m, ref := loadStories(t)
	// Stop at the first "." the reference text has after its first few
	// words: the output is the reference up to it, finish reason stop.
	cut := strings.Index(ref.promptGreedy, ".")
	if cut < 0 {
		t.Fatal("reference text has no period")
	}
	s, err := m.Complete(context.Background(), CompletionRequest{Text: ref.prompt, AddSpecial: true,
		Params: Params{MaxTokens: 64, Stop: []string{"."}}})
	if err != nil {
		t.Fatal(err)
	}
	r := Collect(s)
	if r.Err != nil || r.Text != ref.promptGreedy[:cut] || r.FinishReason != FinishStop {
		t.Errorf("got %q (%s, %v), want %q", r.Text, r.FinishReason, r.Err, ref.promptGreedy[:cut])
	}
	if r.Usage.CompletionTokens >= 64 {
		t.Errorf("generation went on after the stop string: %d tokens", r.Usage.CompletionTokens)
	}
}

func TestCompleteLengthAndErrors(t *testing.T) {
	m, ref := loadStories(t)
	ctx := context.Background()
	s, err := m.Complete(ctx, CompletionRequest{Text: ref.prompt, AddSpecial: true, Params: Params{MaxTokens: 3, IgnoreEOS: true}})
	if err != nil {
		t.Fatal(err)
	}
	if r := Collect(s); r.FinishReason != FinishLength || r.Usage.CompletionTokens != 3 {
		t.Errorf("max tokens 3: %+v", r)
	}
	long := make([]int32, m.Info().ContextLength)
	bad := []struct {
		name string
		req  CompletionRequest
		want error
	}{
		{"zero max tokens", CompletionRequest{Text: "x", Params: Params{MaxTokens: 0}}, ErrInvalidRequest},
		{"token outside vocabulary", CompletionRequest{IDs: []int32{1, 99999}, Params: Params{MaxTokens: 1}}, ErrInvalidRequest},
		{"prompt too long", CompletionRequest{IDs: long, Params: Params{MaxTokens: 1}}, ErrPromptTooLong},
		{"empty ids", CompletionRequest{IDs: []int32{}, Params: Params{MaxTokens: 1}}, ErrInvalidRequest},
		{"negative temperature", CompletionRequest{Text: "x", Params: Params{MaxTokens: 1}}, nil},
	}
	bad[4].req.Sampling.Temperature = -1
	bad[4].want = ErrInvalidRequest
	for _, tt := range bad {
		if _, err := m.Complete(ctx, tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
		}
	}
	if _, err := m.Chat(ctx, ChatRequest{Messages: []chat.Message{{Role: "user", Content: "hi"}}, Params: Params{MaxTokens: 1}}); !errors.Is(err, chat.ErrNoTemplate) {
		t.Errorf("chat on a model without a template: %v", err)
	}
}

func TestCompleteCancelStopsGeneration(t *testing.T) {
	m, ref := loadStories(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := m.Complete(ctx, CompletionRequest{Text: ref.prompt, AddSpecial: true, Params: Params{MaxTokens: 100000, IgnoreEOS: true}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for e := range s.Events() {
		if e.Kind == EventText {
			if n++; n == 5 {
				cancel()
			}
		}
	}
	// The channel closed: generation ended. A request right after runs.
	s, err = m.Complete(context.Background(), CompletionRequest{Text: ref.prompt, AddSpecial: true, Params: Params{MaxTokens: 64}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan Result)
	go func() { done <- Collect(s) }()
	select {
	case r := <-done:
		if r.Text != ref.promptGreedy {
			t.Errorf("after a cancel: %q", r.Text)
		}
	case <-time.After(time.Minute):
		t.Fatal("request after a cancelled one did not finish")
	}
}
