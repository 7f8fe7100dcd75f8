package serve

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/lmx-app/lmx/engine/tokenizer"
)

// minWords is the fewest one-token words a tokenizer must offer: fewer and
// two random prompts would share long runs by chance.
const minWords = 1000

// Prompter writes prompt texts of an exact token count for one tokenizer:
// each word is " " plus lowercase letters and is one token of its own, so
// a byte-level BPE's pre-tokenizer cuts a run of them at every word and the
// count is the number of words plus the special tokens the tokenizer adds
// (BOS). Servers tokenize the text themselves, so the same text costs LMX
// and mlx_lm.server the same tokens.
type Prompter struct {
	tok      *tokenizer.Tokenizer
	words    []string
	specials int // tokens Encode(text, true) adds around the words
}

// NewPrompter loads the tokenizer of the model folder dir and collects its
// one-token words.
func NewPrompter(dir string) (*Prompter, error) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	p := &Prompter{tok: tok}
	for id := range int32(tok.VocabSize()) {
		if w := tok.Decode([]int32{id}, true); !tok.IsSpecial(id) && isWord(w) && slices.Equal(tok.Encode(w, false), []int32{id}) {
			p.words = append(p.words, w)
		}
	}
	if len(p.words) < minWords {
		return nil, fmt.Errorf("tokenizer of %s: %d one-token words, need %d for random prompts", dir, len(p.words), minWords)
	}
	slices.Sort(p.words) // the id order is the tokenizer's; sorted, a seed means the same text anywhere
	p.words = slices.Compact(p.words)
	p.specials = len(tok.Encode(p.words[0], true)) - 1
	return p, nil
}

// isWord reports whether w is " " and 3 to 12 lowercase ASCII letters.
func isWord(w string) bool {
	if len(w) < 4 || len(w) > 13 || w[0] != ' ' {
		return false
	}
	for _, c := range w[1:] {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// Words returns n random words from rng, as one text with no special
// tokens: a prompt's prefix or suffix.
func (p *Prompter) Words(n int, rng *rand.Rand) string {
	var b strings.Builder
	for range n {
		b.WriteString(p.words[rng.IntN(len(p.words))])
	}
	return b.String()
}

// Text returns a random prompt of exactly n tokens, special tokens included
// (n must exceed them), checked by encoding it.
func (p *Prompter) Text(n int, rng *rand.Rand) (string, error) {
	if n <= p.specials {
		return "", fmt.Errorf("a prompt of %d tokens leaves no room for words after %d special tokens", n, p.specials)
	}
	text := p.Words(n-p.specials, rng)
	return text, p.Check(text, n)
}

// Check fails unless text encodes to exactly n tokens, specials included.
func (p *Prompter) Check(text string, n int) error {
	if got := len(p.tok.Encode(text, true)); got != n {
		return fmt.Errorf("prompt encodes to %d tokens, want %d", got, n)
	}
	return nil
}

// Specials is the number of special tokens the tokenizer adds to a prompt.
func (p *Prompter) Specials() int { return p.specials }

// seeded returns the random source of one prompt: the same (run, stream) in
// every engine gives the same text, so alternating engines do the same work,
// and no two prompts of a session share a prefix by construction.
func seeded(run, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(run, stream))
}
