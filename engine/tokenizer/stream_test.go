package tokenizer

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// streamAll feeds ids one at a time and joins the deltas.
func streamAll(tk *Tokenizer, ids []int32, skipSpecial bool) string {
	d := tk.NewStreamDecoder(skipSpecial)
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(d.Add(id))
	}
	b.WriteString(d.Flush())
	return b.String()
}

func TestStreamMatchesDecodeOnGoldens(t *testing.T) {
	for name, recs := range goldenFiles(t) {
		t.Run(name, func(t *testing.T) {
			tk := loadNamed(t, name)
			for i, r := range recs {
				for _, ids := range [][]int32{r.IDs, r.IDsWithSpecial} {
					for _, skip := range []bool{false, true} {
						if got, want := streamAll(tk, ids, skip), tk.Decode(ids, skip); got != want {
							t.Errorf("record %d %q skip=%v: stream %q, decode %q", i, r.Text, skip, got, want)
						}
					}
				}
				if got := streamAll(tk, r.IDs, false); got != r.Decoded {
					t.Errorf("record %d: stream %q, golden decoded %q", i, got, r.Decoded)
				}
			}
		})
	}
}

// TestStreamRandomIDs streams random id sequences, which contain broken
// UTF-8, lone byte tokens and specials anywhere: the deltas must still join
// to the one-shot decode, and no delta may end inside a character.
func TestStreamRandomIDs(t *testing.T) {
	for _, name := range []string{"qwen3", "llama3_1", "llama2", "stories260k"} {
		t.Run(name, func(t *testing.T) {
			tk := loadNamed(t, name)
			rng := rand.New(rand.NewPCG(1, uint64(len(name))))
			for trial := 0; trial < 300; trial++ {
				ids := randomIDs(tk, rng, 1+rng.IntN(40))
				skip := trial%2 == 0
				d := tk.NewStreamDecoder(skip)
				var joined strings.Builder
				for _, id := range ids {
					delta := d.Add(id)
					joined.WriteString(delta)
				}
				joined.WriteString(d.Flush())
				if want := tk.Decode(ids, skip); joined.String() != want {
					t.Fatalf("ids %v skip=%v: stream %q, decode %q", ids, skip, joined.String(), want)
				}
			}
		})
	}
}

// randomIDs mixes uniformly random ids with byte-like tokens (ids of single
// bytes or <0xXX>) so that split characters are common.
func randomIDs(tk *Tokenizer, rng *rand.Rand, n int) []int32 {
	var byteIDs []int32
	for id := int32(0); id < int32(tk.VocabSize()); id++ {
		tok := tk.Token(id)
		if _, ok := byteToken(tok); ok || len([]rune(tok)) == 1 {
			byteIDs = append(byteIDs, id)
		}
	}
	ids := make([]int32, n)
	for i := range ids {
		if rng.IntN(2) == 0 && len(byteIDs) > 0 {
			ids[i] = byteIDs[rng.IntN(len(byteIDs))]
		} else {
			ids[i] = int32(rng.IntN(tk.VocabSize()))
		}
	}
	return ids
}

func TestStreamHoldsPartialCharacters(t *testing.T) {
	cases := []struct {
		name, text string
	}{
		{"qwen3", "漢😀é"},
		{"llama3_1", "😀 ok"},
		{"llama2", "漢😀 ok"},
		{"gemma3", "𓀀 ok"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk := loadNamed(t, c.name)
			d := tk.NewStreamDecoder(false)
			var joined string
			for _, id := range tk.Encode(c.text, false) {
				delta := d.Add(id)
				if strings.ContainsRune(delta, '\uFFFD') {
					t.Fatalf("delta %q splits a character", delta)
				}
				joined += delta
			}
			joined += d.Flush()
			if joined != c.text {
				t.Errorf("joined %q, want %q", joined, c.text)
			}
		})
	}
}
