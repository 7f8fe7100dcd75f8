package gguf_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lmx-app/lmx/engine"
	"github.com/lmx-app/lmx/engine/chat"
	"github.com/lmx-app/lmx/internal/llamacpp"
	"github.com/lmx-app/lmx/internal/testmodel"
	"github.com/lmx-app/lmx/internal/testutil"
)

// TestGemma3GreedyParityWithLlamaCpp is TestGreedyParityWithLlamaCppF32 on
// Gemma 3 270M (Q4_K_M; only with LMX_TEST_GEMMA3=1): LMX on the imported
// model (re-packed K-quants, (1 + w) norms, q/k norms, the embedding
// scale) against llama.cpp on a float32 copy of the GGUF. On the Q4_K_M
// file itself llama.cpp rounds activations to 8 bits (Q8_K, Q8_0) in its
// matrix products, which moves log-probabilities by up to 0.2: no
// comparison at llamacpp.NearTie holds there. The base model's GGUF has no
// chat template, so the chats are rendered with Gemma 3's (from the
// fixtures' Gemma 3 tokenizer) and tokenized with the imported tokenizer.
func TestGemma3GreedyParityWithLlamaCpp(t *testing.T) {
	path := testutil.Gemma3GGUF(t)
	ref := llamacpp.ForTest(t, llamacpp.Options{Model: dequantizedCopy(t, path), Threads: 1, ContextSize: 1024})
	m, err := engine.Load(context.Background(), testmodel.Gemma3(t), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	tmpl, err := chat.LoadTemplate(filepath.Join(testutil.Fixtures(t), "tokenizers", "gemma3"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range parityChats {
		t.Run(c.name, func(t *testing.T) { gemma3Parity(t, m, ref, tmpl, c.messages, 0) })
	}
	t.Run("past the window", func(t *testing.T) { gemma3Parity(t, m, ref, tmpl, longChat(), 512) })
}

// gemma3Parity renders messages with tmpl, tokenizes them with m's
// tokenizer (the template writes <bos>), requires a prompt longer than
// minTokens and compares LMX with ref on it.
func gemma3Parity(t *testing.T, m *engine.Model, ref *llamacpp.Runner, tmpl *chat.Template, messages []chat.Message, minTokens int) {
	s, err := tmpl.Render(messages, nil, true, nil)
	if err != nil || !strings.HasPrefix(s, "<bos>") {
		t.Fatalf("render: %q, %v", s, err)
	}
	tok, err := m.Tokenizer()
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(s, false)
	if len(ids) <= minTokens {
		t.Fatalf("the prompt has %d tokens, want more than %d", len(ids), minTokens)
	}
	t.Logf("prompt: %d tokens", len(ids))
	checkParity(t, m, ref, ids, false)
}

// longChat asks about a numbered list of the other chats' questions, three
// times over: a prompt longer than Gemma 3's 512-token sliding window, so
// that its local layers see only the window and their caches rotate.
func longChat() []chat.Message {
	var b strings.Builder
	b.WriteString("Here are the questions people asked me this week.\n\n")
	n := 0
	for range 3 {
		for _, c := range parityChats {
			if len(c.messages) == 1 {
				n++
				fmt.Fprintf(&b, "%d. %v\n", n, c.messages[0].Content)
			}
		}
	}
	b.WriteString("\nWhich question came up most often, and what is a good answer to it?")
	return user(b.String())
}
