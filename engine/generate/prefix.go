package generate

import (
	"container/list"
	"errors"
	"fmt"

	"github.com/lmx-app/lmx/engine/arch"
	"github.com/lmx-app/lmx/engine/cache"
	"github.com/lmx-app/lmx/metal"
)

// memoryPressure is the share of MLX's memory limit above which the prefix
// cache gives entries back.
const memoryPressure = 0.9

// CacheHit says how much of a prompt came from the prefix cache and, when
// the prompt left the closest cached sequence, where and how.
type CacheHit struct {
	// Tokens are the prompt tokens reused (0: a miss).
	Tokens int
	// Matched is the longest common prefix with a cached sequence; Tokens
	// is less when the last prompt token had to be recomputed or a cache
	// could not be cut back (Reason says which).
	Matched int
	// Diverged is the position of the first differing token, with the
	// prompt's and the cached sequence's token there; -1 when the prompt
	// did not diverge (it extends or ends within the cached sequence).
	Diverged                 int
	PromptToken, CachedToken int32
	Reason                   string
}

// Explain renders the hit for the request log.
func (h CacheHit) Explain() string {
	s := fmt.Sprintf("%d cached tokens", h.Tokens)
	if h.Diverged >= 0 {
		s += fmt.Sprintf("; diverged at token %d (prompt %d, cache %d)", h.Diverged, h.PromptToken, h.CachedToken)
	}
	if h.Reason != "" {
		s += "; " + h.Reason
	}
	return s
}

// PrefixStats are the prefix cache's counters.
type PrefixStats struct {
	Entries              int
	Bytes, Limit         int64
	Hits, Misses         int64
	HitTokens            int64
	Evictions, Pressured int64
	Refused              int64
	RefusedReason        string
	// Disk counts the files of the disk cache (zero without one).
	Disk DiskStats
}

// prefixCache keeps the KV caches of finished sequences so a later prompt
// sharing a prefix prefills only the rest. Sequences are indexed in a radix
// tree over their tokens (one per cache layout), so the longest common
// prefix with any cached sequence is found in one walk down the prompt.
// Only leaves hold entries: a sequence that is a prefix of a newer one is
// dropped for it. Bounded by bytes, least recently used first out. With a
// disk cache, entries reused from memory are written to it and a prompt
// that memory matches less well than a file loads the file. MLX thread only.
type prefixCache struct {
	limit int64
	bytes int64
	disk  *DiskCache // nil: memory only
	roots map[string]*radixNode
	lru   *list.List // of *prefixEntry, most recent at the front
	st    PrefixStats
	// pressured counts fit's evictions, and cleared a clear, since a
	// group's leader last sent them to its followers.
	pressured int
	cleared   bool
	// In a pipelined group every rank's caches hold other layers, so bytes
	// and what can be cut back differ between ranks: the leader logs each
	// decision in ops, and followers replay them, deciding nothing
	// (lockstep.go). Entries are known by their sequence's id.
	logging, replaying bool
	ops                []uint64
	byID               map[uint64]*prefixEntry // replaying: every entry
	parked             map[uint64]parkedSeq    // replaying: reaped, not yet kept
}

type prefixEntry struct {
	id     uint64 // the sequence that made it (in a pipelined group)
	key    string
	tokens []int32
	caches []cache.Cache
	bytes  int64
	node   *radixNode
	elem   *list.Element
	// onDisk: a file holds these tokens (or the write failed): never
	// written again.
	onDisk bool
}

// radixNode is a tree node; edge is the token run from its parent.
type radixNode struct {
	edge     []int32
	parent   *radixNode
	children map[int32]*radixNode
	entry    *prefixEntry
}

func newPrefixCache(limit int64, disk *DiskCache) *prefixCache {
	return &prefixCache{limit: limit, disk: disk, roots: map[string]*radixNode{}, lru: list.New()}
}

// layoutKey identifies caches that can stand in for each other.
func layoutKey(opts arch.CacheOptions) string {
	return fmt.Sprintf("kv%d/%d/g%d", opts.MaxKVSize, opts.KVBits, opts.KVGroupSize)
}

// restore returns caches holding the longest cached prefix of prompt (at
// most all but its last token), or nil caches on a miss, and the id of the
// entry they came from.
func (p *prefixCache) restore(m arch.Model, opts arch.CacheOptions, prompt []int32) ([]cache.Cache, CacheHit, uint64) {
	hit := CacheHit{Diverged: -1}
	if p.limit <= 0 || len(opts.LeftPad) > 0 {
		return nil, hit, 0
	}
	key := layoutKey(opts)
	e, matched := p.lookup(key, prompt)
	if de, n := p.fromDisk(m, opts, key, prompt, matched); de != nil {
		e, matched = de, n
	}
	if e == nil {
		p.st.Misses++
		return nil, hit, 0
	}
	hit.Matched = matched
	if matched < len(prompt) && matched < len(e.tokens) {
		hit.Diverged, hit.PromptToken, hit.CachedToken = matched, prompt[matched], e.tokens[matched]
	}
	use := min(matched, len(prompt)-1)
	if use < matched {
		hit.Reason = "the last prompt token is always recomputed"
	}
	if use == 0 {
		p.st.Misses++
		return nil, hit, 0
	}
	caches, err := copyOf(m, opts, e, use)
	if err != nil {
		p.st.Misses++
		var cut cutError
		if errors.As(err, &cut) {
			hit.Reason = cut.Error()
		}
		return nil, hit, 0
	}
	p.persist(e)
	p.lru.MoveToFront(e.elem)
	p.st.Hits++
	p.st.HitTokens += int64(use)
	hit.Tokens = use
	return caches, hit, e.id
}

// cutError names a cache that could not be cut back to n positions.
type cutError struct {
	c cache.Cache
	n int
}

func (e cutError) Error() string {
	return fmt.Sprintf("a %T cannot be cut back to %d tokens (it has wrapped, or holds a recurrent state)", e.c, e.n)
}

// copyOf returns new caches holding e's first use positions (caller frees).
func copyOf(m arch.Model, opts arch.CacheOptions, e *prefixEntry, use int) ([]cache.Cache, error) {
	caches, err := m.NewCaches(opts)
	if err != nil {
		return nil, err
	}
	for i, c := range caches {
		st := e.caches[i].State()
		for j, a := range st.Arrays {
			// A new handle on the same buffer: the entry keeps its own, and
			// MLX copies rather than writes into a buffer two arrays share.
			st.Arrays[j] = metal.StopGradient(a)
		}
		if err := c.Restore(st); err != nil || !cutBack(c, use) {
			freeCaches(caches)
			return nil, cutError{c: c, n: use}
		}
	}
	return caches, nil
}

// lookup walks prompt down the tree and returns an entry sharing the
// longest prefix with it, and that prefix's length.
func (p *prefixCache) lookup(key string, prompt []int32) (*prefixEntry, int) {
	n := p.roots[key]
	if n == nil {
		return nil, 0
	}
	depth := 0
	for depth < len(prompt) {
		child := n.children[prompt[depth]]
		if child == nil {
			break
		}
		k := commonPrefix(child.edge, prompt[depth:])
		depth += k
		n = child
		if k < len(child.edge) {
			break
		}
	}
	if depth == 0 {
		return nil, 0
	}
	return anyEntry(n), depth
}

// anyEntry returns an entry at or below n (every leaf has one): down the
// child of the smallest token each time, the same entry for the same tree
// (the ranks of a group must reuse alike, and touch the same LRU entry).
func anyEntry(n *radixNode) *prefixEntry {
	for n.entry == nil {
		var next *radixNode
		for tok, c := range n.children {
			if next == nil || tok < next.edge[0] {
				next = c
			}
		}
		n = next
	}
	return n.entry
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// insert takes ownership of caches holding tokens (the cache may hold fewer
// positions than tokens: the last sampled token was never fed, or one more
// when a step was built past the end). Entries that tokens extends are
// dropped; if a cached sequence already extends tokens, caches are freed.
// Returns the new entry (nil when none was made).
func (p *prefixCache) insert(m arch.Model, opts arch.CacheOptions, tokens []int32, caches []cache.Cache) *prefixEntry {
	return p.add(opts, 0, tokens, caches)
}

// keep hands the caches of finished sequence id, which hold tokens, to the
// cache: inserted, or on a pipelined group's follower parked until the
// leader says what it did with them.
func (p *prefixCache) keep(opts arch.CacheOptions, id uint64, tokens []int32, caches []cache.Cache) {
	if p.replaying {
		p.parked[id] = parkedSeq{tokens: tokens, caches: caches}
		return
	}
	p.add(opts, id, tokens, caches)
}

// add is insert for the sequence id made them (0: none).
func (p *prefixCache) add(opts arch.CacheOptions, id uint64, tokens []int32, caches []cache.Cache) *prefixEntry {
	if p.limit <= 0 || len(opts.LeftPad) > 0 || len(caches) == 0 {
		freeCaches(caches)
		return nil
	}
	n := min(caches[0].Offset(), len(tokens))
	for _, c := range caches {
		if !cutBack(c, n) {
			p.refuse(caches, fmt.Sprintf("a %T could not be cut back to its %d tokens (it has wrapped, or holds a recurrent state)", c, n))
			return nil
		}
	}
	if n == 0 {
		freeCaches(caches)
		return nil
	}
	tokens = tokens[:n:n]
	e := &prefixEntry{id: id, key: layoutKey(opts), tokens: tokens, caches: caches}
	for _, c := range caches {
		e.bytes += int64(c.Bytes())
	}
	if e.bytes > p.limit {
		p.refuse(caches, fmt.Sprintf("%d bytes of KV cache exceed the prefix cache's %d", e.bytes, p.limit))
		return nil
	}
	root := p.roots[e.key]
	if root == nil {
		root = &radixNode{children: map[int32]*radixNode{}}
		p.roots[e.key] = root
	}
	node, covered := p.place(root, tokens)
	if covered {
		// A cached sequence already holds every one of these positions.
		old := anyEntry(node)
		p.lru.MoveToFront(old.elem)
		p.log(opTouch, old.id)
		freeCaches(caches)
		return nil
	}
	e.node = node
	node.entry = e
	e.elem = p.lru.PushFront(e)
	p.bytes += e.bytes
	p.log(opInsert, id, uint64(n))
	for a := node.parent; a != nil; a = a.parent {
		if a.entry != nil {
			p.log(opDrop, a.entry.id)
			p.remove(a.entry)
		}
	}
	p.shrinkTo(p.limit) // e, newest and within the limit, stays
	return e
}

// place finds or makes the node where tokens end; covered when a longer
// (or equal) cached sequence passes through it.
func (p *prefixCache) place(root *radixNode, tokens []int32) (*radixNode, bool) {
	n, depth := root, 0
	for depth < len(tokens) {
		child := n.children[tokens[depth]]
		if child == nil {
			leaf := &radixNode{edge: tokens[depth:], parent: n, children: map[int32]*radixNode{}}
			n.children[tokens[depth]] = leaf
			return leaf, false
		}
		k := commonPrefix(child.edge, tokens[depth:])
		if k < len(child.edge) {
			// Split child at k.
			mid := &radixNode{edge: child.edge[:k], parent: n, children: map[int32]*radixNode{}}
			n.children[tokens[depth]] = mid
			child.edge, child.parent = child.edge[k:], mid
			mid.children[child.edge[0]] = child
			child = mid
		}
		depth += k
		n = child
	}
	return n, n.entry != nil || len(n.children) > 0
}

// remove drops an entry and prunes the branch only it used.
func (p *prefixCache) remove(e *prefixEntry) {
	freeCaches(e.caches)
	p.lru.Remove(e.elem)
	p.bytes -= e.bytes
	if p.replaying { // a follower's entries are in no tree
		delete(p.byID, e.id)
		return
	}
	n := e.node
	n.entry = nil
	for n.parent != nil && n.entry == nil && len(n.children) == 0 {
		delete(n.parent.children, n.edge[0])
		n = n.parent
	}
	if n.parent == nil && len(n.children) == 0 {
		delete(p.roots, e.key)
	}
}

// shrinkTo evicts least recently used entries until the cache holds at most
// limit bytes.
func (p *prefixCache) shrinkTo(limit int64) {
	for p.bytes > limit && p.lru.Len() > 0 {
		e := p.lru.Back().Value.(*prefixEntry)
		p.log(opEvict, e.id)
		p.remove(e)
		p.st.Evictions++
	}
}

// fit gives memory back while MLX's active memory is above memoryPressure
// of limit (MLX's memory limit when 0).
func (p *prefixCache) fit(limit int64) {
	if limit <= 0 {
		limit = metal.MemoryLimit()
	}
	if limit <= 0 {
		return
	}
	for p.lru.Len() > 0 && float64(metal.ActiveMemory()) > memoryPressure*float64(limit) {
		e := p.lru.Back().Value.(*prefixEntry)
		p.log(opPressure, e.id)
		p.remove(e)
		p.st.Pressured++
		p.pressured++
	}
}

// evictOldest removes the n least recently used entries (a follower of a
// group repeating the leader's evictions under memory pressure).
func (p *prefixCache) evictOldest(n int) {
	for ; n > 0 && p.lru.Len() > 0; n-- {
		p.remove(p.lru.Back().Value.(*prefixEntry))
		p.st.Pressured++
	}
}

// refuse frees caches that cannot be kept and records why.
func (p *prefixCache) refuse(caches []cache.Cache, reason string) {
	freeCaches(caches)
	p.st.Refused++
	p.st.RefusedReason = reason
}

// clear drops every entry.
func (p *prefixCache) clear() {
	for p.lru.Len() > 0 {
		p.remove(p.lru.Back().Value.(*prefixEntry))
	}
	p.log(opClear)
	p.cleared, p.pressured = true, 0
}

// cutBack trims c to n positions; false when it cannot (a rotating cache
// that has wrapped keeps no earlier positions).
func cutBack(c cache.Cache, n int) bool {
	if want := c.Offset() - n; want > 0 {
		c.Trim(want)
	}
	return c.Offset() == n
}

// stats returns the counters.
func (p *prefixCache) stats() PrefixStats {
	st := p.st
	st.Entries, st.Bytes, st.Limit = p.lru.Len(), p.bytes, p.limit
	if p.disk != nil {
		st.Disk = p.disk.stats()
	}
	return st
}
