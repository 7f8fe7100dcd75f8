package tokenizer

import (
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// FuzzRoundTrip checks decode(encode(s)) == s for the byte-level tokenizers.
// Qwen3 normalizes to NFC first, so its round trip gives NFC(s), as the
// reference library does. Seeds are in testdata/fuzz/FuzzRoundTrip.
func FuzzRoundTrip(f *testing.F) {
	qwen, llama := loadNamed(f, "qwen3"), loadNamed(f, "llama3_1")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			t.Skip("not UTF-8")
		}
		if got := llama.Decode(llama.Encode(s, false), false); got != s {
			t.Errorf("llama3_1 round trip of %q gave %q", s, got)
		}
		if got, want := qwen.Decode(qwen.Encode(s, false), false), norm.NFC.String(s); got != want {
			t.Errorf("qwen3 round trip of %q gave %q, want %q", s, got, want)
		}
	})
}
