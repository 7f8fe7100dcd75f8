package grammar

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/lmx-app/lmx/engine/gguf"
	"github.com/lmx-app/lmx/engine/tokenizer"
	"github.com/lmx-app/lmx/internal/testutil"
)

// requireLib loads llguidance or skips (fails under LMX_REQUIRE_MLX=1: CI
// builds it with the MLX runtime, in make setup).
func requireLib(t testing.TB) {
	t.Helper()
	if err := Available(); err != nil {
		testutil.Unavailable(t, "LMX_REQUIRE_MLX", "llguidance absent (run build/llguidance.sh): "+err.Error())
	}
}

// vocabCase is a real tokenizer with the vocabulary size of a model using it.
type vocabCase struct {
	name  string
	dir   func(t testing.TB) string // folder holding tokenizer.json
	vocab int                       // the model's logits width
	// spm: SentencePiece-style, whose normalizer prepends "▁" to text
	spm bool
	// eos overrides the tokenizer's EOS with the model's (generation_config)
	eos []int32
}

var vocabCases = []vocabCase{
	// SmolLM2-135M (the demo model): byte-level BPE, 49152 tokens.
	{"smollm2", demoTokenizerDir, 49152, false, nil},
	// Qwen3: byte-level BPE, 151669 tokens, embedding padded to 151936.
	{"qwen3", fixtureDir("tokenizers", "qwen3"), 151936, false, nil},
	// Llama 2: SentencePiece-style BPE with byte fallback.
	{"llama2", fixtureDir("tokenizers", "llama2"), 32000, true, nil},
	// stories260k: a 512-token SentencePiece-style BPE whose tokenizer.json
	// adds <s> and </s> as 512 and 513, past the model's vocabulary; the
	// model ends with id 2.
	{"stories260k", fixtureDir("models", "stories260k"), 512, true, []int32{2}},
}

func fixtureDir(parts ...string) func(t testing.TB) string {
	return func(t testing.TB) string {
		return filepath.Join(append([]string{testutil.Fixtures(t)}, parts...)...)
	}
}

var demoDir struct {
	once sync.Once
	dir  string
	err  error
}

// demoTokenizerDir converts the demo GGUF's tokenizer to tokenizer.json once
// per test binary, as the engine does when it loads the model.
func demoTokenizerDir(t testing.TB) string {
	t.Helper()
	path := testutil.DemoGGUF(t)
	demoDir.once.Do(func() {
		f, err := gguf.Open(path)
		if err != nil {
			demoDir.err = err
			return
		}
		demoDir.dir, demoDir.err = os.MkdirTemp("", "lmx-grammar-demo-")
		if demoDir.err == nil {
			demoDir.err = gguf.WriteTokenizerFiles(demoDir.dir, f.Metadata)
		}
	})
	if demoDir.err != nil {
		t.Fatal(demoDir.err)
	}
	return demoDir.dir
}

// loaded is a vocabulary case with both tokenizers built.
type loaded struct {
	vocabCase
	enc *tokenizer.Tokenizer // the engine's tokenizer, to encode instances
	llg *Tokenizer
	eos int32 // the EOS id given to llg
}

// load builds the case's engine and llguidance tokenizers (the caller
// closes llg).
func (c vocabCase) load(t testing.TB) loaded {
	t.Helper()
	requireLib(t)
	dir := c.dir(t)
	enc, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	eos := c.eos
	if id, ok := enc.EOS(); ok && eos == nil {
		eos = []int32{id}
	}
	llg, err := NewTokenizer(js, c.vocab, eos)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return loaded{vocabCase: c, enc: enc, llg: llg, eos: eos[0]}
}

// allowed lists the token ids set in mask.
func allowed(mask []uint32) []int32 {
	var ids []int32
	for w, bits := range mask {
		for b := 0; b < 32; b++ {
			if bits&(1<<b) != 0 {
				ids = append(ids, int32(w*32+b))
			}
		}
	}
	return ids
}

func isAllowed(mask []uint32, id int32) bool { return mask[id/32]&(1<<(id%32)) != 0 }

// encode tokenizes text as the model would generate it mid-sequence: a
// SentencePiece-style normalizer prepends "▁" to the start of a text, so
// for those the text is encoded after a newline (a byte-fallback token no
// merge crosses) and the tokens up to it are dropped.
func (l loaded) encode(t testing.TB, text string) []int32 {
	t.Helper()
	if !l.spm {
		return l.enc.Encode(text, false)
	}
	ids := l.enc.Encode("\n"+text, false)
	nl := slices.IndexFunc(ids, func(id int32) bool { return l.enc.Token(id) == "<0x0A>" })
	if nl < 0 {
		t.Fatalf("%s: no newline token encoding %q", l.name, text)
	}
	ids = ids[nl+1:]
	if got := l.enc.Decode(ids, false); got != text {
		t.Fatalf("%s: tokens decode to %q, want %q", l.name, got, text)
	}
	return ids
}
