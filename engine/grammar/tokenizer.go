package grammar

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"unsafe"
)

// Errors matched with errors.Is.
var (
	// ErrInvalidSpec: the schema or grammar cannot be compiled (the request's
	// fault; the message says why).
	ErrInvalidSpec = errors.New("invalid structured output spec")
	// ErrNotAllowed: the token is not allowed by the grammar here.
	ErrNotAllowed = errors.New("token not allowed by the grammar")
	// ErrClosed: the Tokenizer or Matcher was closed.
	ErrClosed = errors.New("grammar: use after Close")
)

// Resource limits for one spec. llguidance enforces the parser limits itself
// (its defaults are sized for servers with many GB); the byte limit is
// checked before the library sees the spec.
const (
	// MaxSpecBytes bounds a schema or grammar's text.
	MaxSpecBytes = 512 << 10
	// maxGrammarSize bounds symbols in productions (llguidance's default is
	// 500k). Compile time grows faster than linearly with it: a schema of
	// 2000 optional properties (~20k symbols) compiles in about a second, the
	// largest of JSONSchemaBench's sample in under 5k symbols.
	maxGrammarSize = 20_000
	// maxLexerStates bounds the lexer's DFA (~1-2 kB each; default 250k).
	maxLexerStates = 100_000
)

// Tokenizer is a model's vocabulary as llguidance sees it. Safe for
// concurrent use. Close it after the matchers made from it (or before: the
// library handle is freed when the last one closes).
type Tokenizer struct {
	vocab int
	eos   []int32
	init  constraintInit // the template every Validate and NewMatcher uses

	mu     sync.Mutex
	h      uintptr // LlgTokenizer *
	live   int     // open matchers
	closed bool
}

// NewTokenizer builds llguidance's token table from a Hugging Face
// tokenizer.json (byte-level BPE, or SentencePiece-style BPE with byte
// fallback). vocabSize is the model's vocabulary (its logits' width), which
// may exceed the tokenizer's: the extra ids are never allowed. eosIDs are the
// tokens that end a sequence (the first is llguidance's EOS); a mask allows
// them where the grammar may end. Literal strings in grammars are tokenized
// greedily (llguidance's approximate tokenizer); masks are exact regardless.
func NewTokenizer(tokenizerJSON []byte, vocabSize int, eosIDs []int32) (*Tokenizer, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if vocabSize <= 0 || vocabSize >= int(invalidToken) {
		return nil, fmt.Errorf("grammar tokenizer: vocab size %d out of range", vocabSize)
	}
	eos := make([]uint32, len(eosIDs))
	for i, id := range eosIDs {
		if id < 0 || int(id) >= vocabSize {
			return nil, fmt.Errorf("grammar tokenizer: EOS id %d outside the vocabulary (%d)", id, vocabSize)
		}
		eos[i] = uint32(id)
	}
	h, err := newTokenizer(cString(string(tokenizerJSON)), uint32(vocabSize), eos)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{vocab: vocabSize, eos: slices.Clone(eosIDs), h: h}
	t.setInit()
	return t, nil
}

func newTokenizer(jsonz []byte, vocab uint32, eos []uint32) (uintptr, error) {
	var p runtime.Pinner
	defer p.Unpin()
	in := &tokenizerInitV2{
		vocabSize:            vocab,
		tokEOS:               invalidToken,
		tokenizerJSON:        pin(&p, &jsonz[0]),
		useApproximateGreedy: true,
	}
	in.structSize = unsafe.Sizeof(*in)
	if len(eos) > 0 {
		in.tokEOS = eos[0]
	}
	if len(eos) > 1 {
		in.tokEOSExtra, in.tokEOSExtraCount = pin(&p, &eos[1]), uint32(len(eos)-1)
	}
	msg := make([]byte, 1024)
	h := call(fnNewTokenizer, pin(&p, in), pin(&p, &msg[0]), uintptr(len(msg)))
	if h == 0 {
		return 0, fmt.Errorf("grammar tokenizer: %s", tidy(bufString(msg)))
	}
	return h, nil
}

// setInit fills t.init: llguidance's default constraint setup with quiet
// logs, short error messages and this package's limits.
func (t *Tokenizer) setInit() {
	var p runtime.Pinner
	defer p.Unpin()
	in := &t.init
	call(fnInitDefaults, pin(&p, in), t.h)
	in.logStderrLevel, in.logBufferLevel = 0, 0
	in.limits.verboseErrors = false
	in.limits.maxGrammarSize = maxGrammarSize
	in.limits.maxLexerStates = maxLexerStates
}

// VocabSize is the model vocabulary the masks cover.
func (t *Tokenizer) VocabSize() int { return t.vocab }

func (t *Tokenizer) isEOS(id int32) bool { return slices.Contains(t.eos, id) }

// MaskWords is the length of a token bitmask over vocab tokens.
func MaskWords(vocab int) int { return (vocab + 31) / 32 }

// Close releases the tokenizer once its matchers are closed. Idempotent.
func (t *Tokenizer) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	t.freeIfDone()
}

// acquire registers a matcher (or a Validate call) using the handle.
func (t *Tokenizer) acquire() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	t.live++
	return nil
}

// release ends what acquire started.
func (t *Tokenizer) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live--
	t.freeIfDone()
}

func (t *Tokenizer) freeIfDone() {
	if t.closed && t.live == 0 && t.h != 0 {
		call(fnFreeTokenizer, t.h)
		t.h = 0
	}
}
