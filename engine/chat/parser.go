package chat

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// EventKind says what an Event carries.
type EventKind int

// Event kinds.
const (
	// EventContent is a delta of the visible answer.
	EventContent EventKind = iota
	// EventReasoning is a delta of the model's reasoning (<think> text).
	EventReasoning
	// EventToolCall is one complete tool call.
	EventToolCall
)

// Event is one piece of parsed model output.
type Event struct {
	Kind     EventKind
	Text     string   // the delta, for content and reasoning
	ToolCall ToolCall // for EventToolCall
	Raw      string   // for EventToolCall: the call as the model wrote it, markers excluded
}

// Options configures a Parser.
type Options struct {
	// Thinking separates <think>...</think> blocks as reasoning.
	Thinking bool
	// StartInReasoning: the prompt opened the think block (PromptOpensThink),
	// so output is reasoning until </think>.
	StartInReasoning bool
	// NewID makes tool-call ids; nil gives "call_" and 24 random hex digits.
	NewID func() string
}

type mode int

const (
	modeContent mode = iota
	modeReasoning
	modeTool // inside a tool-call section, see toolsection.go
)

// Parser splits one request's model output, fed as it streams, into content,
// reasoning and tool calls. Marker text cut at a delta boundary is held back
// until the next delta decides it. Text that looks like a tool call but does
// not parse is returned as content. Not safe for concurrent use.
type Parser struct {
	format    Format
	opts      Options
	buf       string // input not yet decided
	mode      mode
	section   toolSection // the open tool-call section in modeTool
	pendingWS string      // content whitespace held back: dropped before a tool call
	skipWS    bool        // drop content whitespace after a think block or tool call
	seenText  bool        // content other than whitespace was emitted
	events    []Event
}

// NewParser returns a parser for one response in the given tool-call format.
func NewParser(format Format, opts Options) *Parser {
	if opts.NewID == nil {
		opts.NewID = randomCallID
	}
	p := &Parser{format: format, opts: opts}
	if opts.StartInReasoning {
		p.mode = modeReasoning
	}
	return p
}

// Feed consumes the next piece of output and returns the events it completes.
func (p *Parser) Feed(delta string) []Event {
	p.buf += delta
	p.run(false)
	return p.take()
}

// Finish ends the output: held-back text is released and an unfinished tool
// call is parsed if it can be, else returned as content.
func (p *Parser) Finish() []Event {
	p.run(true)
	if p.pendingWS != "" {
		p.emit(Event{Kind: EventContent, Text: p.pendingWS})
		p.pendingWS = ""
	}
	return p.take()
}

// Result is a whole response, parsed.
type Result struct {
	Content   string
	Reasoning string
	ToolCalls []ToolCall
}

// Parse parses a complete response with the same machine as streaming.
func Parse(format Format, opts Options, text string) Result {
	p := NewParser(format, opts)
	return Collect(append(p.Feed(text), p.Finish()...))
}

// Collect joins events into a Result.
func Collect(events []Event) Result {
	var content, reasoning strings.Builder
	var r Result
	for _, e := range events {
		switch e.Kind {
		case EventContent:
			content.WriteString(e.Text)
		case EventReasoning:
			reasoning.WriteString(e.Text)
		case EventToolCall:
			r.ToolCalls = append(r.ToolCalls, e.ToolCall)
		}
	}
	r.Content, r.Reasoning = content.String(), reasoning.String()
	return r
}

func (p *Parser) take() []Event {
	ev := p.events
	p.events = nil
	return ev
}

// run advances through the buffer until it needs more input.
func (p *Parser) run(final bool) {
	for {
		var progressed bool
		switch p.mode {
		case modeContent:
			progressed = p.stepContent(final)
		case modeReasoning:
			progressed = p.stepReasoning(final)
		case modeTool:
			progressed = p.stepTool(final)
		}
		if !progressed {
			return
		}
	}
}

// stepContent emits content up to the next marker and switches mode there.
func (p *Parser) stepContent(final bool) bool {
	if p.format == FormatLlama3 && !p.seenText && p.startsWithJSON() {
		p.pendingWS = ""
		p.openSection("")
		return true
	}
	at, marker := p.nextMarker()
	if at < 0 {
		keep := 0
		if !final {
			keep = partialSuffix(p.buf, p.contentMarkers())
			if p.format == FormatLlama3 && !p.seenText && strings.TrimSpace(p.buf) == "" {
				keep = len(p.buf) // undecided: the output may still start with JSON
			}
		}
		p.emitContent(p.buf[:len(p.buf)-keep])
		p.buf = p.buf[len(p.buf)-keep:]
		return false
	}
	p.emitContent(p.buf[:at])
	p.buf = p.buf[at+len(marker):]
	if marker == thinkOpen {
		p.mode = modeReasoning
		p.pendingWS = ""
		return true
	}
	p.pendingWS = ""
	p.openSection(marker)
	return true
}

// stepReasoning emits reasoning up to </think>.
func (p *Parser) stepReasoning(final bool) bool {
	at := strings.Index(p.buf, thinkClose)
	if at < 0 {
		keep := 0
		if !final {
			keep = partialSuffix(p.buf, []string{thinkClose})
		}
		p.emitText(EventReasoning, p.buf[:len(p.buf)-keep])
		p.buf = p.buf[len(p.buf)-keep:]
		return false
	}
	p.emitText(EventReasoning, p.buf[:at])
	p.buf = p.buf[at+len(thinkClose):]
	p.mode = modeContent
	p.skipWS = true
	return true
}

// startsWithJSON: Llama's bare JSON tool call, the output's first non-space
// character being '{'.
func (p *Parser) startsWithJSON() bool {
	s := strings.TrimLeft(p.buf, " \t\r\n")
	return strings.HasPrefix(s, "{")
}

// contentMarkers are the strings that end plain content in this format.
func (p *Parser) contentMarkers() []string {
	var m []string
	if p.opts.Thinking {
		m = append(m, thinkOpen)
	}
	switch p.format {
	case FormatHermes:
		m = append(m, hermesOpen)
	case FormatLlama3:
		m = append(m, llamaPythonTag)
	case FormatMistral:
		m = append(m, mistralOpen)
	case FormatGemma:
		m = append(m, gemmaOpen)
	}
	return m
}

// nextMarker finds the earliest content marker in the buffer.
func (p *Parser) nextMarker() (int, string) {
	best, marker := -1, ""
	for _, m := range p.contentMarkers() {
		if i := strings.Index(p.buf, m); i >= 0 && (best < 0 || i < best) {
			best, marker = i, m
		}
	}
	return best, marker
}

// emitContent emits content, dropping whitespace right after a structure
// and holding trailing whitespace back in case a tool call follows.
func (p *Parser) emitContent(s string) {
	if p.skipWS {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return
		}
		p.skipWS = false
	}
	s = p.pendingWS + s
	trimmed := strings.TrimRight(s, " \t\r\n")
	p.pendingWS = s[len(trimmed):]
	if trimmed != "" {
		p.seenText = true
	}
	p.emitText(EventContent, trimmed)
}

func (p *Parser) emitText(kind EventKind, s string) {
	if s != "" {
		p.emit(Event{Kind: kind, Text: s})
	}
}

func (p *Parser) emit(e Event) {
	p.events = append(p.events, e)
}

// partialSuffix returns the length of the longest suffix of s that is a
// proper prefix of one of the markers.
func partialSuffix(s string, markers []string) int {
	best := 0
	for _, m := range markers {
		for n := min(len(m)-1, len(s)); n > best; n-- {
			if strings.HasSuffix(s, m[:n]) {
				best = n
				break
			}
		}
	}
	return best
}

func randomCallID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "call_" + hex.EncodeToString(b[:])
}
