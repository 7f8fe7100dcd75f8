package gguf_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/internal/llamacpp"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// paritySteps is how many greedy tokens each chat is compared over.
const paritySteps = 64

// parityChats are varied chats: questions, instructions, code and a
// multi-turn conversation with a system prompt.
var parityChats = []struct {
	name     string
	messages []chat.Message
}{
	{"capital", user("What is the capital of France?")},
	{"explain", user("Explain in simple words why the sky is blue.")},
	{"list", user("List five fruits that are red, one per line.")},
	{"poem", user("Write a short poem about autumn leaves.")},
	{"python", user("Write a Python function that returns the n-th Fibonacci number.")},
	{"fix code", user("What is wrong with this code?\n\nfor i in range(10)\n    print(i)")},
	{"arithmetic", user("If I have 3 apples and buy 7 more, then give away 4, how many do I have? Show your steps.")},
	{"translate", user("Translate to French: The weather is nice today and I want to go for a walk.")},
	{"summarize", user("Summarize in one sentence: The Industrial Revolution began in Britain in the late 18th century. " +
		"It replaced hand production with machines, new chemical processes and steam power, and changed how people lived and worked.")},
	{"multi-turn", []chat.Message{
		{Role: "system", Content: "You are a concise assistant that answers in at most two sentences."},
		{Role: "user", Content: "I am planning a trip to Japan."},
		{Role: "assistant", Content: "That sounds exciting! When are you going and what do you like to do?"},
		{Role: "user", Content: "In April. I like food and old temples. Which city should I visit first?"},
	}},
}

// user is a one-message chat.
func user(content string) []chat.Message {
	return []chat.Message{{Role: "user", Content: content}}
}

// TestGreedyParityWithLlamaCpp decodes each chat greedily with LMX on the
// imported demo model (SmolLM2-135M-Instruct Q4_1) and with llama.cpp on the
// original GGUF, from the same prompt ids, and requires the same tokens. A
// divergence is accepted only where llama.cpp's two best logits are within
// llamacpp.NearTie; nothing after it is compared.
func TestGreedyParityWithLlamaCpp(t *testing.T) {
	path := testutil.DemoGGUF(t)
	ref := llamacpp.ForTest(t, llamacpp.Options{Model: path, Threads: 1, ContextSize: 1024})
	m, err := engine.Load(context.Background(), testmodel.Demo(t), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	for _, c := range parityChats {
		t.Run(c.name, func(t *testing.T) {
			p, err := m.RenderChat(engine.ChatRequest{Messages: c.messages})
			if err != nil {
				t.Fatal(err)
			}
			checkParity(t, m, ref, p.IDs)
		})
	}
}

// checkParity compares LMX's and llama.cpp's greedy tokens after ids and, at
// the first difference, logs both implementations' two best candidates.
func checkParity(t *testing.T, m *engine.Model, ref *llamacpp.Runner, ids []int32) {
	want, err := ref.Generate(ids, paritySteps)
	if err != nil {
		t.Fatal(err)
	}
	got := lmxSteps(t, m, ids)
	tokens := make([]int32, len(got))
	for i, tok := range got {
		tokens[i] = tok.ID
	}
	agreed, err := llamacpp.CheckGreedy(want, tokens, llamacpp.NearTie)
	if n := min(len(want), len(got)); agreed < n {
		t.Logf("step %d of %d (prompt %d tokens): %s; %s", agreed, n, len(ids),
			describeRef(want[agreed]), describeLMX(got[agreed]))
	}
	if err != nil {
		t.Fatalf("LMX differs from llama.cpp: %v", err)
	}
	t.Logf("%d of %d steps agree (llama.cpp stopped after %d)", agreed, len(got), len(want))
}

// lmxSteps decodes paritySteps greedy tokens with LMX, each with its two
// best candidates.
func lmxSteps(t *testing.T, m *engine.Model, ids []int32) []generate.Token {
	var steps []generate.Token
	_, err := m.Generate(context.Background(), engine.Request{IgnoreEOS: true, Request: generate.Request{
		Prompt: ids, MaxTokens: paritySteps, TopLogprobs: 2,
	}}, func(tok generate.Token) bool { steps = append(steps, tok); return false })
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != paritySteps {
		t.Fatalf("LMX generated %d tokens, want %d", len(steps), paritySteps)
	}
	return steps
}

// describeRef prints llama.cpp's two best candidates as log-probabilities
// (logits less the same log-sum-exp) and their logit gap.
func describeRef(s llamacpp.Step) string {
	if len(s.Top) < 2 {
		return fmt.Sprintf("llama.cpp chose %d (%d candidates)", s.Token, len(s.Top))
	}
	return fmt.Sprintf("llama.cpp top-2 %d (logprob %.6f) / %d (logprob %.6f), logit gap %.3g",
		s.Top[0].ID, math.Log(s.Top[0].P), s.Top[1].ID, math.Log(s.Top[1].P), s.LogitGap)
}

// describeLMX prints LMX's two best candidates as log-probabilities and
// their logit gap.
func describeLMX(tok generate.Token) string {
	if len(tok.Top) < 2 {
		return fmt.Sprintf("LMX chose %d", tok.ID)
	}
	a, b := tok.Top[0], tok.Top[1]
	return fmt.Sprintf("LMX top-2 %d (logprob %.6f) / %d (logprob %.6f), logit gap %.3g",
		a.ID, a.Logprob, b.ID, b.Logprob, a.Logprob-b.Logprob)
}
