package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unicode/utf8"
)

// bpe is the byte-pair-encoding model of tokenizer.json ("type": "BPE").
type bpe struct {
	vocab        map[string]int32
	merges       map[uint64]merge // key: left id << 32 | right id
	unk          int32            // -1: no unknown token
	fuseUnk      bool
	byteFallback bool
	byteIDs      [256]int32 // id of "<0xXX>", -1 if absent
	ignoreMerges bool
	cache        wordCache
}

// merge is the rank of a pair (lower merges first) and the id it makes.
type merge struct{ rank, id int32 }

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// newBPE builds the model from its spec, checking every merge.
func newBPE(spec *modelSpec) (*bpe, error) {
	if spec.Type != "BPE" && spec.Type != "" {
		return nil, unsupported("model", spec.Type)
	}
	if err := checkAffixes(spec); err != nil {
		return nil, err
	}
	vocab, pairs, err := decodeVocabAndMerges(spec)
	if err != nil {
		return nil, err
	}
	m := &bpe{vocab: vocab, unk: -1, fuseUnk: spec.FuseUnk,
		byteFallback: spec.ByteFallback, ignoreMerges: spec.IgnoreMerges}
	m.cache.init(cacheCapacity)
	if spec.UnkToken != nil {
		id, ok := m.vocab[*spec.UnkToken]
		if !ok {
			return nil, fmt.Errorf("unk token %q is not in the vocabulary", *spec.UnkToken)
		}
		m.unk = id
	}
	for b := range m.byteIDs {
		id, ok := m.vocab[fmt.Sprintf("<0x%02X>", b)]
		if !ok {
			id = -1
		}
		m.byteIDs[b] = id
	}
	return m, m.setMerges(pairs)
}

// decodeVocabAndMerges decodes the two big arrays of the model at the same
// time (most of the load time of a 260k-token vocabulary).
func decodeVocabAndMerges(spec *modelSpec) (map[string]int32, [][2]string, error) {
	var vocab map[string]int32
	var vocabErr error
	var wg sync.WaitGroup
	wg.Go(func() { vocabErr = json.Unmarshal(spec.Vocab, &vocab) })
	pairs, err := parseMerges(spec.Merges)
	wg.Wait()
	switch {
	case vocabErr != nil:
		return nil, nil, fmt.Errorf("vocab: %w", vocabErr)
	case err != nil:
		return nil, nil, err
	case len(vocab) == 0:
		return nil, nil, errNoModel
	}
	return vocab, pairs, nil
}

// checkAffixes rejects word prefixes and suffixes, which no supported
// tokenizer uses (an empty string means none).
func checkAffixes(spec *modelSpec) error {
	if p := spec.ContinuingSubwordPrefix; p != nil && *p != "" {
		return unsupported("BPE option", "continuing_subword_prefix")
	}
	if s := spec.EndOfWordSuffix; s != nil && *s != "" {
		return unsupported("BPE option", "end_of_word_suffix")
	}
	if spec.Dropout != nil && *spec.Dropout > 0 {
		return unsupported("BPE option", "dropout")
	}
	return nil
}

func (m *bpe) setMerges(pairs [][2]string) error {
	// Resolve the pairs to ids in two halves at once, then fill the map.
	ids := make([]pairIDs, len(pairs))
	half := len(pairs) / 2
	var wg sync.WaitGroup
	wg.Go(func() { m.resolve(pairs[:half], ids[:half]) })
	m.resolve(pairs[half:], ids[half:])
	wg.Wait()
	m.merges = make(map[uint64]merge, len(pairs))
	for rank, p := range ids {
		if p.merged < 0 {
			return fmt.Errorf("merge %d %q %q: token not in the vocabulary", rank, pairs[rank][0], pairs[rank][1])
		}
		if _, dup := m.merges[pairKey(p.left, p.right)]; !dup {
			m.merges[pairKey(p.left, p.right)] = merge{int32(rank), p.merged}
		}
	}
	return nil
}

// pairIDs is a merge rule as ids; merged is -1 when a token is missing.
type pairIDs struct{ left, right, merged int32 }

func (m *bpe) resolve(pairs [][2]string, out []pairIDs) {
	var buf []byte
	for i, p := range pairs {
		a, okA := m.vocab[p[0]]
		b, okB := m.vocab[p[1]]
		buf = append(append(buf[:0], p[0]...), p[1]...)
		id, okC := m.vocab[string(buf)]
		if !okA || !okB || !okC {
			id = -1
		}
		out[i] = pairIDs{a, b, id}
	}
}

// tokenize appends the ids of one pre-token to dst.
func (m *bpe) tokenize(word string, dst []int32) []int32 {
	if m.ignoreMerges {
		if id, ok := m.vocab[word]; ok {
			return append(dst, id)
		}
	}
	if len(word) <= maxCachedWord {
		if ids, ok := m.cache.get(word); ok {
			return append(dst, ids...)
		}
	}
	ids := m.mergeWord(word)
	if len(word) <= maxCachedWord {
		m.cache.put(word, ids)
	}
	return append(dst, ids...)
}

// symbols splits word into its initial symbols: one per character in the
// vocabulary, byte tokens for the others (byte_fallback) or the unknown token.
func (m *bpe) symbols(word string) []int32 {
	syms := make([]int32, 0, len(word))
	pendingUnk := false
	for i := 0; i < len(word); {
		_, size := utf8.DecodeRuneInString(word[i:])
		ch := word[i : i+size]
		i += size
		if id, ok := m.vocab[ch]; ok {
			syms, pendingUnk = append(syms, id), false
			continue
		}
		if bytes, ok := m.fallbackBytes(ch); ok {
			syms, pendingUnk = append(syms, bytes...), false
			continue
		}
		if m.unk >= 0 && !(pendingUnk && m.fuseUnk) {
			syms = append(syms, m.unk)
		}
		pendingUnk = m.unk >= 0
	}
	return syms
}

func (m *bpe) fallbackBytes(ch string) ([]int32, bool) {
	if !m.byteFallback {
		return nil, false
	}
	ids := make([]int32, len(ch))
	for i := 0; i < len(ch); i++ {
		if ids[i] = m.byteIDs[ch[i]]; ids[i] < 0 {
			return nil, false
		}
	}
	return ids, true
}

// mergeWord applies the merges lowest rank first (leftmost on ties) over a
// linked list of symbols, with a heap of candidate pairs: O(n log n).
func (m *bpe) mergeWord(word string) []int32 {
	ids := m.symbols(word)
	if len(ids) < 2 {
		return ids
	}
	n := len(ids)
	prev, next := make([]int32, n), make([]int32, n)
	for i := range ids {
		prev[i], next[i] = int32(i-1), int32(i+1)
	}
	next[n-1] = -1
	h := pairHeap{}
	push := func(i int32) {
		if j := next[i]; j >= 0 {
			if mg, ok := m.merges[pairKey(ids[i], ids[j])]; ok {
				h.push(candidate{mg.rank, i, ids[i], ids[j]})
			}
		}
	}
	for i := int32(0); i < int32(n-1); i++ {
		push(i)
	}
	for h.len() > 0 {
		c := h.pop()
		j := next[c.pos]
		if ids[c.pos] != c.left || j < 0 || ids[j] != c.right {
			continue // stale: one side changed since the pair was queued
		}
		ids[c.pos] = m.merges[pairKey(c.left, c.right)].id
		ids[j] = -1
		next[c.pos] = next[j]
		if k := next[j]; k >= 0 {
			prev[k] = c.pos
		}
		if p := prev[c.pos]; p >= 0 {
			push(p)
		}
		push(c.pos)
	}
	out := ids[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, ids[i])
	}
	return out
}

// candidate is a queued pair: symbols pos and next[pos] holding left, right.
type candidate struct {
	rank, pos   int32
	left, right int32
}

func (a candidate) less(b candidate) bool {
	return a.rank < b.rank || a.rank == b.rank && a.pos < b.pos
}

// pairHeap is a binary min-heap of candidates (container/heap's interface
// boxing costs a third of the merge time).
type pairHeap struct{ items []candidate }

func (h *pairHeap) len() int { return len(h.items) }

func (h *pairHeap) push(c candidate) {
	h.items = append(h.items, c)
	i := len(h.items) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.items[i].less(h.items[p]) {
			break
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *pairHeap) pop() candidate {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for i := 0; ; {
		l, r, min := 2*i+1, 2*i+2, i
		if l < last && h.items[l].less(h.items[min]) {
			min = l
		}
		if r < last && h.items[r].less(h.items[min]) {
			min = r
		}
		if min == i {
			return top
		}
		h.items[i], h.items[min] = h.items[min], h.items[i]
		i = min
	}
}

// Bounds of the per-word cache: long words (a whole sentencepiece segment)
// are rarely repeated and would crowd out the short ones.
const (
	cacheCapacity = 1 << 15
	maxCachedWord = 256
)

// wordCache maps a pre-token to its ids; it is emptied when full, which keeps
// memory bounded and adapts to a new text's vocabulary. Safe for concurrent use.
type wordCache struct {
	mu    sync.RWMutex
	words map[string][]int32
	cap   int
}

func (c *wordCache) init(capacity int) {
	c.words, c.cap = make(map[string][]int32), capacity
}

func (c *wordCache) get(w string) ([]int32, bool) {
	c.mu.RLock()
	ids, ok := c.words[w]
	c.mu.RUnlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	c.mu.Lock()
	if len(c.words) >= c.cap {
		clear(c.words)
	}
	c.words[w] = ids
	c.mu.Unlock()
}

// errNoModel is returned for a tokenizer.json without a vocabulary.
var errNoModel = errors.New("tokenizer.json has no model vocabulary")
