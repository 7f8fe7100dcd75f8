package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/lmx-app/lmx/engine/generate"
	"github.com/lmx-app/lmx/engine/grammar"
	"github.com/lmx-app/lmx/engine/tokenizer"
)

// structured is a model's structured-output state: llguidance's view of the
// tokenizer, built on the first constrained request (it takes a second or
// more for a 150k vocabulary, so models that never use it never pay), and
// the tool-call syntax its chat template teaches (toolgrammar.go).
type structured struct {
	dir string

	once sync.Once
	tok  *grammar.Tokenizer
	err  error

	syntaxOnce sync.Once
	syntax     toolSyntax

	spaceOnce sync.Once
	space     []int32 // tokens whose text is whitespace only
}

// spaceTokens lists the tokens whose text is only whitespace, found once.
func (m *Model) spaceTokens() []int32 {
	g := m.text.grammar
	g.spaceOnce.Do(func() {
		n := min(m.text.tok.VocabSize(), m.info.VocabSize)
		for id := range int32(n) {
			if s := m.text.tok.TokenText(id); s != "" && strings.TrimSpace(s) == "" && !m.text.tok.IsSpecial(id) {
				g.space = append(g.space, id)
			}
		}
	})
	return g.space
}

// grammarTokenizer returns the model's llguidance tokenizer, building it
// once. It runs on the caller's goroutine, never on the MLX thread.
func (m *Model) grammarTokenizer() (*grammar.Tokenizer, error) {
	g := m.text.grammar
	g.once.Do(func() {
		if m.text.tok == nil {
			g.err = m.text.tokErr
			return
		}
		js, err := os.ReadFile(filepath.Join(g.dir, "tokenizer.json"))
		if err != nil {
			g.err = fmt.Errorf("structured output: %w", err)
			return
		}
		g.tok, g.err = grammar.NewTokenizer(js, m.info.VocabSize, m.info.EOSTokenIDs)
		if g.err != nil {
			g.err = fmt.Errorf("structured output: %w", g.err)
		}
	})
	return g.tok, g.err
}

// close frees the llguidance tokenizer (once its matchers are closed).
func (g *structured) close() {
	g.once.Do(func() { g.err = ErrClosed }) // none is built after Close
	if g.tok != nil {
		g.tok.Close()
	}
}

// constraint compiles the request's output constraint, or returns nil when
// it has none: a forced tool choice's call grammar, else params.Format. A
// spec that cannot be compiled is ErrInvalidRequest naming the reason; the
// caller closes the constraint when the request ends.
func (m *Model) constraint(p *Prompt, params Params) (*constraint, error) {
	spec, err := m.outputSpec(p, params)
	if spec == nil || err != nil {
		return nil, err
	}
	tok, err := m.grammarTokenizer()
	if err != nil {
		return nil, err
	}
	mt, err := tok.NewMatcher(*spec)
	switch {
	case errors.Is(err, grammar.ErrInvalidSpec):
		return nil, fmt.Errorf("%w: structured output: %w", ErrInvalidRequest, err)
	case err != nil:
		return nil, fmt.Errorf("structured output: %w", err)
	}
	return m.newConstraint(mt, p), nil
}

// outputSpec is the spec that constrains p's output, nil for free text.
func (m *Model) outputSpec(p *Prompt, params Params) (*grammar.Spec, error) {
	if p.chat && forced(p.choice) && p.tools != nil {
		spec, err := m.toolSpec(p)
		if err != nil {
			return nil, err
		}
		return &spec, nil
	}
	return params.Format, nil
}

// forced reports whether a tool choice makes the answer a tool call.
func forced(c ToolChoice) bool {
	return c != "" && c != ToolChoiceAuto && c != ToolChoiceNone
}

// Reasoning markers: the grammar starts after the reasoning ends.
const (
	thinkOpen  = "<think>"
	thinkClose = "</think>"
)

// constraint is a request's generate.Constraint: the grammar's matcher,
// behind a free-text phase while a thinking model reasons. The scheduler
// calls it from the MLX thread, one call at a time.
type constraint struct {
	m     *grammar.Matcher
	tok   *tokenizer.Tokenizer
	vocab int
	eos   []int32
	// thinking: the reasoning block is open; every token but EOS is allowed
	// until thinkClose has been generated.
	thinking bool
	// openID is the single token of thinkOpen, allowed as the first token
	// of a thinking model's answer when the prompt did not open the block
	// (-1: none).
	openID int32
	first  bool
	tail   string // the end of the reasoning so far, to find thinkClose
	// gap counts the whitespace tokens allowed between thinkClose and the
	// grammar (models write "</think>\n\n"); space lists them.
	gap   int
	space []int32
}

// maxGap bounds the whitespace tokens after the reasoning, so a model
// cannot loop on them.
const maxGap = 4

var _ generate.Constraint = (*constraint)(nil)

func (m *Model) newConstraint(mt *grammar.Matcher, p *Prompt) *constraint {
	c := &constraint{m: mt, tok: m.text.tok, vocab: m.info.VocabSize, eos: m.info.EOSTokenIDs,
		openID: -1, first: true}
	if !p.chat || !p.thinking {
		return c
	}
	c.thinking = p.opened
	c.space = m.spaceTokens()
	// A prompt that closed the block itself (reasoning switched off) gets
	// no second one.
	closed := strings.HasSuffix(strings.TrimRight(p.Text, " \t\r\n"), thinkClose)
	if id, ok := c.tok.TokenID(thinkOpen); ok && !p.opened && !closed {
		c.openID = id
	}
	return c
}

// FillMask writes the allowed tokens: all but EOS while reasoning, else the
// grammar's (plus the think-opening token first, where it applies).
func (c *constraint) FillMask(dst []uint32) error {
	if c.thinking {
		for i := range dst {
			dst[i] = ^uint32(0)
		}
		if r := c.vocab % 32; r != 0 {
			dst[len(dst)-1] = 1<<r - 1
		}
		for _, id := range c.eos {
			dst[id/32] &^= 1 << (id % 32)
		}
		return nil
	}
	if err := c.m.FillMask(dst); err != nil {
		return err
	}
	if c.first && c.openID >= 0 {
		dst[c.openID/32] |= 1 << (c.openID % 32)
	}
	if c.gap > 0 {
		for _, id := range c.space {
			dst[id/32] |= 1 << (id % 32)
		}
	}
	return nil
}

// Consume advances past id: through the reasoning, or the grammar.
func (c *constraint) Consume(id int32) error {
	first := c.first
	c.first = false
	switch {
	case c.thinking:
		c.tail += c.tok.TokenText(id)
		if strings.Contains(c.tail, thinkClose) {
			c.thinking, c.tail, c.gap = false, "", maxGap
		} else if n := len(c.tail) - len(thinkClose); n > 0 {
			c.tail = c.tail[n:]
		}
		return nil
	case first && id == c.openID:
		c.thinking = true
		return nil
	case c.gap > 0 && slices.Contains(c.space, id):
		c.gap--
		return nil
	}
	c.gap = 0
	return c.m.Consume(id)
}

// Close frees the matcher.
func (c *constraint) Close() { c.m.Close() }
