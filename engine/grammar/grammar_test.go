package grammar

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

const weatherSchema = `{"type":"object","properties":{"city":{"type":"string","maxLength":40},` +
	`"days":{"type":"integer","minimum":1,"maximum":14},"unit":{"enum":["c","f"]}},"required":["city","days"],"additionalProperties":false}`

var (
	loadedMu    sync.Mutex
	loadedCache = map[string]loaded{}
)

// shared returns the named case's tokenizers, built once per test binary
// (building Qwen3's takes seconds); never closed.
func shared(t *testing.T, name string) loaded {
	t.Helper()
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if l, ok := loadedCache[name]; ok {
		return l
	}
	for _, c := range vocabCases {
		if c.name == name {
			l := c.load(t)
			loadedCache[name] = l
			return l
		}
	}
	t.Fatalf("no vocabulary case %q", name)
	return loaded{}
}

// feed consumes the tokens of text, checking each against the mask.
func feed(t *testing.T, l loaded, m *Matcher, text string) {
	t.Helper()
	mask := make([]uint32, MaskWords(l.vocab))
	for i, id := range l.encode(t, text) {
		if err := m.FillMask(mask); err != nil {
			t.Fatal(err)
		}
		if !isAllowed(mask, id) {
			t.Fatalf("%s: token %d %q of %q not in the mask", l.name, i, l.enc.Token(id), text)
		}
		if err := m.Consume(id); err != nil {
			t.Fatalf("%s: token %d %q of %q: %v", l.name, i, l.enc.Token(id), text, err)
		}
	}
}

// TestGenerateJSON walks a schema instance through every tokenizer kind:
// masks allow its tokens, nothing past the tokenizer's own vocabulary,
// EOS only where the value may end, and the matcher stops at the end.
func TestGenerateJSON(t *testing.T) {
	for _, c := range vocabCases {
		t.Run(c.name, func(t *testing.T) {
			l := shared(t, c.name)
			m, err := l.llg.NewMatcher(JSONSchema([]byte(weatherSchema)))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			eos := l.eos
			mask := make([]uint32, MaskWords(l.vocab))
			feed(t, l, m, `{"city":"Paris","days":3`)
			if err := m.FillMask(mask); err != nil {
				t.Fatal(err)
			}
			if isAllowed(mask, eos) || m.IsAccepting() {
				t.Fatal("EOS allowed inside an unfinished object")
			}
			if ids := allowed(mask); ids[len(ids)-1] >= int32(min(l.enc.VocabSize(), l.vocab)) {
				t.Fatalf("mask allows id %d past the tokenizer's %d tokens", ids[len(ids)-1], l.enc.VocabSize())
			}
			feed(t, l, m, `}`)
			if err := m.FillMask(mask); err != nil {
				t.Fatal(err)
			}
			if !m.IsAccepting() || !m.IsStopped() || !slices.Equal(allowed(mask), []int32{eos}) {
				t.Fatalf("after the object: accepting %v stopped %v allowed %v, want EOS only", m.IsAccepting(), m.IsStopped(), allowed(mask))
			}
			if err := m.Consume(eos); err != nil || m.Err() != nil {
				t.Fatalf("EOS after the end: %v / %v", err, m.Err())
			}
		})
	}
}

// TestCompactWhitespace: no whitespace between JSON tokens, so a model
// cannot loop on it.
func TestCompactWhitespace(t *testing.T) {
	l := shared(t, "qwen3")
	for _, spec := range []Spec{JSONSchema([]byte(weatherSchema)), JSONObject()} {
		m, err := l.llg.NewMatcher(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		mask := make([]uint32, MaskWords(l.vocab))
		text := ""
		// At each point between JSON tokens of {"city":"a","days":2}.
		for _, next := range []string{"{", `"city"`, ":", `"a"`, ",", `"days"`, ":", "2", "}"} {
			if err := m.FillMask(mask); err != nil {
				t.Fatal(err)
			}
			for _, id := range allowed(mask) {
				if s := l.enc.Decode([]int32{id}, false); s != "" && strings.TrimLeft(s, " \n\r\t") != s {
					t.Fatalf("%v after %q allows %q", spec, text, s)
				}
			}
			feed(t, l, m, next)
			text += next
		}
		if !m.IsAccepting() {
			t.Fatalf("%v: %s not accepted", spec, text)
		}
	}
}

// TestLarkToolCall: a tool-call grammar with an inline schema, as the chat
// layer builds for Qwen3's <tool_call> format.
func TestLarkToolCall(t *testing.T) {
	l := shared(t, "qwen3")
	block, err := InlineJSON([]byte(`{"type":"object","properties":{"name":{"const":"get_weather"},` +
		`"arguments":` + weatherSchema + `},"required":["name","arguments"]}`))
	if err != nil {
		t.Fatal(err)
	}
	spec := Lark(`start: "<tool_call>\n" ` + block + ` "\n</tool_call>"`)
	if err := l.llg.Validate(spec); err != nil {
		t.Fatal(err)
	}
	m, err := l.llg.NewMatcher(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	feed(t, l, m, "<tool_call>\n"+`{"name":"get_weather","arguments":{"city":"Oslo","days":2}}`+"\n</tool_call>")
	if !m.IsAccepting() {
		t.Fatal("complete tool call not accepting")
	}

	m2, _ := l.llg.NewMatcher(spec)
	defer m2.Close()
	ids := l.encode(t, "<tool_call>\n"+`{"name":"get_time"}`)
	if n, err := m2.ValidTokens(ids); err != nil || n == len(ids) {
		t.Fatalf("wrong tool name: %d of %d tokens valid (%v)", n, len(ids), err)
	}
}

// TestConsumeRefusedKeepsMatcher: a token outside the mask is an
// ErrNotAllowed error and the matcher carries on.
func TestConsumeRefusedKeepsMatcher(t *testing.T) {
	l := shared(t, "smollm2")
	m, err := l.llg.NewMatcher(JSONSchema([]byte(weatherSchema)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, id := range []int32{l.encode(t, "[")[0], -1, int32(l.vocab)} {
		if err := m.Consume(id); !errors.Is(err, ErrNotAllowed) {
			t.Fatalf("Consume(%d) = %v, want ErrNotAllowed", id, err)
		}
	}
	feed(t, l, m, `{"city":"Rome","days":1}`)
	if !m.IsAccepting() {
		t.Fatal("not accepting after a refused token and a valid value")
	}
}

// TestRollback undoes tokens as speculative decoding needs.
func TestRollback(t *testing.T) {
	l := shared(t, "smollm2")
	m, err := l.llg.NewMatcher(JSONSchema([]byte(weatherSchema)))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	text := `{"city":"Rome","days":12}`
	ids := l.encode(t, text)
	feed(t, l, m, text)
	if err := m.Rollback(3); err != nil {
		t.Fatal(err)
	}
	if m.IsAccepting() {
		t.Fatal("accepting after rolling back the end")
	}
	for _, id := range ids[len(ids)-3:] {
		if err := m.Consume(id); err != nil {
			t.Fatal(err)
		}
	}
	if !m.IsAccepting() {
		t.Fatal("not accepting after replaying the rolled-back tokens")
	}
	if err := m.Rollback(len(ids)); err != nil {
		t.Fatal(err)
	}
	if n, err := m.ValidTokens(ids); err != nil || n != len(ids) {
		t.Fatalf("after rolling back everything: %d of %d valid (%v)", n, len(ids), err)
	}
}

// TestFillMasksMatchesFillMask: the batch entry gives each matcher's own
// mask.
func TestFillMasksMatchesFillMask(t *testing.T) {
	l := shared(t, "smollm2")
	text := `{"city":"Lisbon","days":7,"unit":"c"}`
	ids := l.encode(t, text)
	var ms []*Matcher
	var dst [][]uint32
	for i := range 8 {
		m, err := l.llg.NewMatcher(JSONSchema([]byte(weatherSchema)))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		for _, id := range ids[:i*len(ids)/8] {
			if err := m.Consume(id); err != nil {
				t.Fatal(err)
			}
		}
		ms, dst = append(ms, m), append(dst, make([]uint32, MaskWords(l.vocab)))
	}
	if err := FillMasks(ms, dst); err != nil {
		t.Fatal(err)
	}
	one := make([]uint32, MaskWords(l.vocab))
	for i, m := range ms {
		if err := m.FillMask(one); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(one, dst[i]) {
			t.Fatalf("matcher %d: FillMasks differs from FillMask", i)
		}
	}
	if err := FillMasks(ms, dst[:2]); err == nil {
		t.Fatal("FillMasks accepted mismatched lengths")
	}
}

// TestCloseOrder: the tokenizer may close before its matchers; use after
// Close is ErrClosed, not a crash.
func TestCloseOrder(t *testing.T) {
	l := vocabCases[3].load(t) // stories260k: cheap to build
	m, err := l.llg.NewMatcher(JSONObject())
	if err != nil {
		t.Fatal(err)
	}
	l.llg.Close()
	if _, err := l.llg.NewMatcher(JSONObject()); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewMatcher after Close: %v", err)
	}
	mask := make([]uint32, MaskWords(l.vocab))
	if err := m.FillMask(mask); err != nil {
		t.Fatalf("matcher outliving its tokenizer's Close: %v", err)
	}
	m.Close()
	m.Close()
	if err := m.FillMask(mask); !errors.Is(err, ErrClosed) {
		t.Fatalf("FillMask after Close: %v", err)
	}
	if m.IsAccepting() || !m.IsStopped() {
		t.Fatal("closed matcher reports a live state")
	}
}

// TestNewTokenizerErrors: bad input is an error, never a crash.
func TestNewTokenizerErrors(t *testing.T) {
	requireLib(t)
	for name, tc := range map[string]struct {
		json  string
		vocab int
		eos   []int32
	}{
		"not JSON":         {"{", 10, nil},
		"no decoder":       {`{"model":{"vocab":{"a":0}},"added_tokens":[],"decoder":null}`, 10, nil},
		"EOS out of range": {`{"model":{"vocab":{"a":0}},"added_tokens":[],"decoder":{"type":"ByteLevel"}}`, 10, []int32{10}},
		"zero vocab":       {`{}`, 0, nil},
	} {
		if tok, err := NewTokenizer([]byte(tc.json), tc.vocab, tc.eos); err == nil {
			tok.Close()
			t.Errorf("%s: no error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
