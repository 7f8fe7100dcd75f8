package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// segment is a piece of input: an added token (id >= 0) or text for the model.
type segment struct {
	text string
	id   int32
}

// trie finds added tokens in a text, leftmost-longest like the reference's
// Aho-Corasick automaton.
type trie struct {
	root  [256]int32 // first byte -> node; 0: none
	nodes []trieNode
}

type trieNode struct {
	edges []trieEdge
	token int32 // index into tokens, -1 if no token ends here
}

type trieEdge struct {
	b  byte
	to int32
}

// matcherSet is the trie plus the tokens it holds.
type matcherSet struct {
	trie   trie
	tokens []addedSpec
}

func newMatcherSet(tokens []addedSpec, content func(addedSpec) string) *matcherSet {
	ms := &matcherSet{tokens: tokens}
	ms.trie.nodes = []trieNode{{token: -1}} // node 0 is the unused root slot
	for i, t := range tokens {
		if c := content(t); c != "" {
			ms.trie.insert(c, int32(i))
		}
	}
	return ms
}

func (t *trie) insert(s string, token int32) {
	node := t.root[s[0]]
	if node == 0 {
		node = t.newNode()
		t.root[s[0]] = node
	}
	for i := 1; i < len(s); i++ {
		node = t.child(node, s[i])
	}
	if t.nodes[node].token < 0 {
		t.nodes[node].token = token
	}
}

func (t *trie) newNode() int32 {
	t.nodes = append(t.nodes, trieNode{token: -1})
	return int32(len(t.nodes) - 1)
}

func (t *trie) child(node int32, b byte) int32 {
	for _, e := range t.nodes[node].edges {
		if e.b == b {
			return e.to
		}
	}
	n := t.newNode()
	t.nodes[node].edges = append(t.nodes[node].edges, trieEdge{b, n})
	return n
}

// longest returns the token index and end of the longest token starting at i.
func (t *trie) longest(s string, i int) (token int32, end int) {
	token = -1
	node := t.root[s[i]]
	for j := i + 1; node != 0; j++ {
		if tk := t.nodes[node].token; tk >= 0 {
			token, end = tk, j
		}
		if j >= len(s) {
			break
		}
		node = t.step(node, s[j])
	}
	return token, end
}

func (t *trie) step(node int32, b byte) int32 {
	for _, e := range t.nodes[node].edges {
		if e.b == b {
			return e.to
		}
	}
	return 0
}

// split cuts s into added-token segments and text segments, honouring each
// token's single_word, lstrip and rstrip flags.
func (ms *matcherSet) split(s string, dst []segment) []segment {
	if len(ms.tokens) == 0 {
		return append(dst, segment{s, -1})
	}
	done := 0 // end of the last emitted segment
	for i := 0; i < len(s); {
		tk, end := ms.trie.longest(s, i)
		if tk < 0 {
			i++
			continue
		}
		if !ms.tokens[tk].fits(s, i, end) {
			i = end // the reference's matches never overlap, kept or not
			continue
		}
		t := &ms.tokens[tk]
		start := i
		if t.LStrip {
			start = max(done, trimSpaceLeft(s, i))
		}
		if t.RStrip {
			end = trimSpaceRight(s, end)
		}
		if start > done {
			dst = append(dst, segment{s[done:start], -1})
		}
		dst = append(dst, segment{s[start:end], t.ID})
		done, i = end, end
	}
	if done < len(s) {
		dst = append(dst, segment{s[done:], -1})
	}
	return dst
}

// fits checks single_word: the match may not touch a word character.
func (t *addedSpec) fits(s string, lo, hi int) bool {
	if !t.SingleWord {
		return true
	}
	before, _ := utf8.DecodeLastRuneInString(s[:lo])
	after, _ := utf8.DecodeRuneInString(s[hi:])
	return (lo == 0 || !isWordChar(before)) && (hi == len(s) || !isWordChar(after))
}

// isWordChar is \w of Rust's regex: alphabetic, marks, decimal digits,
// connector punctuation and joiners.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Pc, r) || r == 0x200C || r == 0x200D
}

func trimSpaceLeft(s string, i int) int {
	for i > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		if !unicode.IsSpace(r) {
			break
		}
		i -= size
	}
	return i
}

func trimSpaceRight(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !unicode.IsSpace(r) {
			break
		}
		i += size
	}
	return i
}
