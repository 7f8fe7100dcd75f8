package chat

import "strings"

// toolSection is an open tool-call section: the marker that opened it ("" for
// Llama's bare JSON at the start of the output).
type toolSection struct {
	open  string
	calls int // calls parsed so far in this section
}

func (p *Parser) openSection(marker string) {
	p.mode = modeTool
	p.section = toolSection{open: marker}
}

// stepTool advances inside a tool-call section.
func (p *Parser) stepTool(final bool) bool {
	switch p.format {
	case FormatHermes:
		return p.stepClosed(final, hermesClose, parseToolCallBody)
	case FormatGemma:
		return p.stepClosed(final, gemmaClose, parseGemma)
	case FormatMistral:
		return p.stepMistral(final)
	default:
		return p.stepLlama(final)
	}
}

// stepClosed handles formats whose calls end with a close marker. An
// unclosed call at the end of output is still parsed: models often stop at
// their end-of-turn token instead.
func (p *Parser) stepClosed(final bool, closer string, parse func(string) ([]parsedCall, error)) bool {
	at := strings.Index(p.buf, closer)
	if at < 0 && !final {
		return false
	}
	body, end := p.buf, ""
	if at >= 0 {
		body, end = p.buf[:at], closer
	}
	p.buf = p.buf[len(body)+len(end):]
	p.finishSection(body, end, parse)
	return true
}

// finishSection emits the calls parsed from body, or the raw text as content.
func (p *Parser) finishSection(body, closer string, parse func(string) ([]parsedCall, error)) {
	calls, err := parse(body)
	if err != nil || len(calls) == 0 {
		p.failSection(body + closer)
		return
	}
	p.section.calls += len(calls)
	for i, c := range calls {
		raw := ""
		if i == 0 {
			raw = body // several calls from one body: the text is reported once
		}
		p.emit(Event{Kind: EventToolCall, ToolCall: c.toolCall(p.opts.NewID()), Raw: raw})
	}
	p.skipWS = true
	if p.format != FormatLlama3 {
		p.mode = modeContent
	}
}

// failSection returns a section that is not a valid tool call as content.
func (p *Parser) failSection(text string) {
	p.mode = modeContent
	p.skipWS = false
	p.emitContent(p.section.open + text)
}

// stepMistral handles [TOOL_CALLS][{...}, ...] and [TOOL_CALLS]name[ARGS]{...}.
func (p *Parser) stepMistral(final bool) bool {
	s := strings.TrimLeft(p.buf, " \t\r\n")
	lead := len(p.buf) - len(s)
	if strings.HasPrefix(s, "[") {
		return p.stepJSON(final, lead, parseMistralArray)
	}
	at := strings.Index(s, mistralArgs)
	name := s[:len(s)-partialSuffix(s, []string{mistralArgs})]
	if at >= 0 {
		name = s[:at]
	}
	if !isFunctionName(name) || (at < 0 && final) {
		p.buf = ""
		p.failSection(s) // not a call; leading whitespace is dropped with the marker
		return true
	}
	if at < 0 {
		return false
	}
	return p.stepJSONAfter(final, lead+at+len(mistralArgs), name)
}

// stepLlama handles Llama 3 JSON calls, several separated by ";". After a
// call the section stays open for the next one; other text ends it.
func (p *Parser) stepLlama(final bool) bool {
	t := strings.TrimLeft(p.buf, " \t\r\n")
	s := strings.TrimLeft(t, " \t\r\n;")
	if s == "" && !final {
		return false
	}
	if strings.HasPrefix(s, "{") {
		return p.stepJSON(final, len(p.buf)-len(s), parseLlama)
	}
	p.buf = ""
	if p.section.calls > 0 {
		p.buf = t
		p.mode = modeContent
		p.skipWS = true
		return true
	}
	p.failSection(t)
	return true
}

// stepJSON parses one JSON value starting at p.buf[start:] as calls.
func (p *Parser) stepJSON(final bool, start int, parse func(string) ([]parsedCall, error)) bool {
	end, status := jsonValueEnd(p.buf[start:])
	switch {
	case status == jsonIncomplete && !final:
		return false
	case status != jsonComplete:
		rest := p.buf
		p.buf = ""
		p.failSection(rest)
		return true
	}
	body := p.buf[:start+end]
	p.buf = p.buf[start+end:]
	p.finishSection(body, "", func(string) ([]parsedCall, error) { return parse(body[start:]) })
	return true
}

// stepJSONAfter parses the arguments object of a named Mistral call.
func (p *Parser) stepJSONAfter(final bool, start int, name string) bool {
	return p.stepJSON(final, start, func(args string) ([]parsedCall, error) {
		return namedCall(name, args)
	})
}

func isFunctionName(s string) bool {
	for _, r := range s {
		ok := r == '_' || r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return false
		}
	}
	return true
}
