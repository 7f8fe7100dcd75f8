package grammar

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Matcher tracks one sequence's position in a spec's grammar. Not safe for
// concurrent use; the caller closes it (it holds library memory).
type Matcher struct {
	tok   *Tokenizer
	h     uintptr // LlgMatcher *
	words int     // MaskWords(tok.vocab)
	// scratch receives the library's mask when its size differs from words
	// (a tokenizer with more tokens than the model); nil otherwise.
	scratch []uint32
}

// NewMatcher compiles spec into a matcher at the start of the grammar. A
// spec it cannot compile is an error wrapping ErrInvalidSpec.
func (t *Tokenizer) NewMatcher(spec Spec) (*Matcher, error) {
	kind, data, err := spec.cArgs()
	if err != nil {
		return nil, err
	}
	if err := t.acquire(); err != nil {
		return nil, err
	}
	var p runtime.Pinner
	h := call(fnNewMatcher, pin(&p, &t.init), pin(&p, &kind[0]), pin(&p, &data[0]))
	p.Unpin()
	m := &Matcher{tok: t, h: h, words: MaskWords(t.vocab)}
	if msg := m.libError(); msg != "" {
		m.Close()
		return nil, spec.errorf("%s", tidy(msg))
	}
	if n := int(call(fnMaskByteSize, h)) / 4; n != m.words {
		m.scratch = make([]uint32, n)
	}
	if err := m.checkStart(); err != nil {
		m.Close()
		return nil, spec.errorf("%v", err)
	}
	return m, nil
}

// checkStart computes the first mask, which fails or is empty for a grammar
// with no finite value llguidance can detect (e.g. a bare $ref cycle), and
// runs out of its per-step limits for one too complex to use.
func (m *Matcher) checkStart() error {
	mask := make([]uint32, m.words)
	if err := m.FillMask(mask); err != nil {
		return err
	}
	if !m.IsAccepting() && !slices.ContainsFunc(mask, func(w uint32) bool { return w != 0 }) {
		return errors.New("no value satisfies it")
	}
	return nil
}

// libError is the matcher's error message, "" when it has none.
func (m *Matcher) libError() string {
	if m.h == 0 {
		return ""
	}
	return goString(call(fnMatcherError, m.h))
}

// fail wraps the library's error for op (after a -1 status).
func (m *Matcher) fail(op string) error {
	msg := m.libError()
	if msg == "" {
		msg = "failed"
	}
	return fmt.Errorf("grammar %s: %s", op, tidy(msg))
}

// FillMask writes the tokens allowed next into dst, a bitmask of
// MaskWords(VocabSize()) words: bit i%32 of dst[i/32] set means token i is
// allowed. EOS ids are allowed where the grammar may end. Typically 0.1–1 ms
// for a 50k–150k vocabulary; run it off the MLX thread.
func (m *Matcher) FillMask(dst []uint32) error {
	if m.h == 0 {
		return ErrClosed
	}
	if len(dst) != m.words {
		return fmt.Errorf("grammar mask: %d words, want %d", len(dst), m.words)
	}
	if m.scratch == nil {
		return m.computeMask(dst)
	}
	if err := m.computeMask(m.scratch); err != nil {
		return err
	}
	n := copy(dst, m.scratch)
	clear(dst[n:])
	if r := m.tok.vocab % 32; r != 0 {
		dst[len(dst)-1] &= 1<<r - 1 // ids past the model's vocabulary
	}
	return nil
}

// computeMask has the library write the mask into dst (its exact size).
func (m *Matcher) computeMask(dst []uint32) error {
	var p runtime.Pinner
	defer p.Unpin()
	if !ok(call(fnComputeMaskInto, m.h, pin(&p, &dst[0]), uintptr(4*len(dst)))) {
		return m.fail("mask")
	}
	return nil
}

// Consume advances past token id. A token the grammar does not allow here
// returns an error wrapping ErrNotAllowed and leaves the matcher as it was;
// any other error stops the matcher. An EOS id after the grammar stopped
// (the only token its mask allows then) is accepted and changes nothing.
func (m *Matcher) Consume(id int32) error {
	if m.h == 0 {
		return ErrClosed
	}
	if m.tok.isEOS(id) && m.IsStopped() && m.Err() == nil {
		return nil // the grammar ended; EOS only closes the sequence
	}
	if n, err := m.ValidTokens([]int32{id}); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: id %d", ErrNotAllowed, id)
	}
	if !ok(call(fnConsumeToken, m.h, uintptr(uint32(id)))) {
		return m.fail("consume")
	}
	return nil
}

// ValidTokens reports how many of ids, in order, the grammar allows from
// here, without advancing (to check a speculative draft).
func (m *Matcher) ValidTokens(ids []int32) (int, error) {
	if m.h == 0 {
		return 0, ErrClosed
	}
	toks := make([]uint32, 0, len(ids))
	for _, id := range ids {
		if id < 0 || int(id) >= m.tok.vocab {
			break
		}
		toks = append(toks, uint32(id))
	}
	if len(toks) == 0 {
		return 0, nil
	}
	var p runtime.Pinner
	r := int32(call(fnValidateTokens, m.h, pin(&p, &toks[0]), uintptr(len(toks))))
	p.Unpin()
	if r < 0 {
		return 0, m.fail("validate tokens")
	}
	return int(r), nil
}

// Rollback undoes the last n consumed tokens (rejected speculative tokens).
func (m *Matcher) Rollback(n int) error {
	if m.h == 0 {
		return ErrClosed
	}
	if n < 0 {
		return fmt.Errorf("grammar rollback: negative count %d", n)
	}
	if !ok(call(fnRollback, m.h, uintptr(n))) {
		return m.fail("rollback")
	}
	return nil
}

// IsAccepting reports whether the grammar may end here (EOS is allowed).
func (m *Matcher) IsAccepting() bool {
	return m.h != 0 && cbool(call(fnIsAccepting, m.h))
}

// IsStopped reports whether the sequence must end now: the grammar allows
// nothing more, or the matcher failed (then Err says why).
func (m *Matcher) IsStopped() bool {
	return m.h == 0 || cbool(call(fnIsStopped, m.h))
}

// Err returns the error that stopped the matcher, or nil.
func (m *Matcher) Err() error {
	if m.h == 0 {
		return ErrClosed
	}
	if !cbool(call(fnIsError, m.h)) {
		return nil
	}
	return m.fail("matcher")
}

// Close frees the matcher. Idempotent.
func (m *Matcher) Close() {
	if m.h == 0 {
		return
	}
	call(fnFreeMatcher, m.h)
	m.h = 0
	m.tok.release()
}

// FillMasks computes the masks of a batch of matchers (one decode step of
// several constrained sequences) in parallel: ms[i] fills dst[i]. The C ABI's
// parallel entry (llg_par_compute_mask) takes the older constraint handles,
// not matchers, so this fans out over goroutines, at most GOMAXPROCS at once
// (a mask is 10–30 µs for a JSON schema on a 2-core x86 machine, so the gain
// needs cores to spare). Errors name the failing index.
func FillMasks(ms []*Matcher, dst [][]uint32) error {
	if len(ms) != len(dst) {
		return fmt.Errorf("grammar masks: %d matchers, %d masks", len(ms), len(dst))
	}
	workers := min(len(ms), runtime.GOMAXPROCS(0))
	if workers <= 1 {
		return fillSerial(ms, dst)
	}
	errs := make([]error, len(ms))
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1) - 1); i < len(ms); i = int(next.Add(1) - 1) {
			if err := ms[i].FillMask(dst[i]); err != nil {
				errs[i] = fmt.Errorf("sequence %d: %w", i, err)
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Go(work)
	}
	work() // the caller is a worker too
	wg.Wait()
	return errors.Join(errs...)
}

func fillSerial(ms []*Matcher, dst [][]uint32) error {
	for i, m := range ms {
		if err := m.FillMask(dst[i]); err != nil {
			return fmt.Errorf("sequence %d: %w", i, err)
		}
	}
	return nil
}
