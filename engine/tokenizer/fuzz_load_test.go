package tokenizer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzHang is how long one input may take (files of a few kB take
// milliseconds).
const fuzzHang = 20 * time.Second

// FuzzTokenizerJSON: Load on any tokenizer.json and tokenizer_config.json
// never panics (a refusal is an error), and a tokenizer it accepts encodes
// any text to ids inside its vocabulary without panicking, and decodes
// them back to valid UTF-8 (invalid byte sequences become U+FFFD). Seeds in
// testdata/fuzz/FuzzTokenizerJSON are the fixture tokenizers (Llama 2,
// Llama 3.1, Qwen3, Gemma 3, stories260k) with their vocabularies cut to a
// few hundred tokens, plus broken variants.
func FuzzTokenizerJSON(f *testing.F) {
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`), []byte(`{}`), "abba")
	f.Fuzz(func(t *testing.T, tokJSON, cfgJSON []byte, text string) {
		// A hang is a failure too: the fuzzer keeps a crashing input.
		defer time.AfterFunc(fuzzHang, func() { panic(fmt.Sprintf("tokenizer input ran over %v", fuzzHang)) }).Stop()
		dir := t.TempDir()
		if err := errors.Join(os.WriteFile(filepath.Join(dir, "tokenizer.json"), tokJSON, 0o644),
			os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), cfgJSON, 0o644)); err != nil {
			t.Fatal(err)
		}
		tok, err := Load(dir)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		for _, special := range []bool{false, true} {
			ids := tok.Encode(text, special)
			for _, id := range ids {
				if id < 0 || int(id) >= tok.VocabSize() {
					t.Fatalf("encode %q: id %d outside the vocabulary of %d", text, id, tok.VocabSize())
				}
				_ = tok.Token(id)
			}
			for _, skip := range []bool{false, true} {
				if out := tok.Decode(ids, skip); !utf8.ValidString(out) {
					t.Fatalf("decode of %q gave invalid UTF-8 %q", text, out)
				}
			}
		}
	})
}
