package chat

import (
	"strings"
	"unicode"
)

// hfToJSONName is the filter name that replaces tojson in template sources.
// The jinja package resolves its built-in filters before template variables,
// so Hugging Face's tojson (see hfToJSON) can only be installed under a name
// of its own.
const hfToJSONName = "lmx_hf_tojson"

// normalizeSource applies Jinja2's whitespace control the way transformers
// configures it (trim_blocks, lstrip_blocks, "-" and "+" markers) and returns
// an equivalent template with no literal text left: every piece of text
// becomes a {{ '...' }} expression, comments and {% raw %} blocks are
// resolved, the tojson and string filters are replaced (replacedFilters)
// and every printed expression goes through pyStrName. The jinja package's own
// trimming looks past neighbouring tags for text to strip (so
// "{% if a -%}x: {{ v }}{%- endif %}" lost the space before the value);
// with no text segments left, that code has nothing to act on.
func normalizeSource(src string) string {
	// Jinja2 drops one newline at the end of the template (keep_trailing_newline=False).
	if s, ok := strings.CutSuffix(src, "\n"); ok {
		src = strings.TrimSuffix(s, "\r")
	}
	l := lexer{src: src, lineStarting: true}
	for l.pos < len(src) {
		l.step()
	}
	return l.out.String()
}

type lexer struct {
	src          string
	pos          int
	out          strings.Builder
	lineStarting bool // the previous tag's match ended with a newline
}

// step emits the text up to the next tag and that tag.
func (l *lexer) step() {
	open := nextTagOpen(l.src, l.pos)
	if open < 0 {
		l.emitText(l.src[l.pos:])
		l.pos = len(l.src)
		return
	}
	kind := l.src[open+1]
	marker := markerAt(l.src, open+2)
	l.emitText(l.leftTrim(l.src[l.pos:open], kind, marker))
	innerStart := open + 2
	if marker != 0 {
		innerStart++
	}
	if kind == '%' && isRawOpen(l.src[innerStart:]) {
		l.raw(innerStart)
		return
	}
	end, inner, right := tagEnd(l.src, innerStart, kind)
	l.emitTag(kind, inner)
	l.afterTag(end, kind, right)
}

// leftTrim applies "{%-" (strip all whitespace before the tag) or
// lstrip_blocks (strip the indentation of a block or comment tag that starts
// its line).
func (l *lexer) leftTrim(text string, kind, marker byte) string {
	if marker == '-' {
		return strings.TrimRightFunc(text, unicode.IsSpace)
	}
	if marker == '+' || kind == '{' {
		return text
	}
	lpos := strings.LastIndexByte(text, '\n') + 1
	if (lpos > 0 || l.lineStarting) && strings.TrimSpace(text[lpos:]) == "" {
		return text[:lpos]
	}
	return text
}

// afterTag consumes what a tag's right side strips: all whitespace after
// "-%}", or one newline after a block or comment tag (trim_blocks).
func (l *lexer) afterTag(end int, kind, right byte) {
	l.pos = end
	switch {
	case right == '-':
		rest := strings.TrimLeftFunc(l.src[end:], unicode.IsSpace)
		l.pos = len(l.src) - len(rest)
	case right != '+' && kind != '{' && strings.HasPrefix(l.src[end:], "\n"):
		l.pos++
	}
	l.lineStarting = l.pos > 0 && l.src[l.pos-1] == '\n'
}

// raw copies a {% raw %} block's content as text.
func (l *lexer) raw(innerStart int) {
	end, _, right := tagEnd(l.src, innerStart, '%')
	l.afterTagRaw(end, right)
	closeAt := l.findEndRaw()
	if closeAt < 0 { // unterminated: let the jinja package report it
		l.out.WriteString("{% raw %}")
		return
	}
	marker := markerAt(l.src, closeAt+2)
	l.emitText(l.leftTrim(l.src[l.pos:closeAt], '%', marker))
	inner := closeAt + 2
	if marker != 0 {
		inner++
	}
	end, _, right = tagEnd(l.src, inner, '%')
	l.afterTag(end, '%', right)
}

// afterTagRaw handles the end of "{% raw %}": only "-%}" strips after it.
func (l *lexer) afterTagRaw(end int, right byte) {
	l.pos = end
	if right == '-' {
		rest := strings.TrimLeftFunc(l.src[end:], unicode.IsSpace)
		l.pos = len(l.src) - len(rest)
	}
}

func (l *lexer) findEndRaw() int {
	for at := l.pos; ; {
		i := strings.Index(l.src[at:], "{%")
		if i < 0 {
			return -1
		}
		start := at + i
		inner := start + 2
		if markerAt(l.src, inner) != 0 {
			inner++
		}
		word := strings.TrimLeftFunc(l.src[inner:], unicode.IsSpace)
		if strings.HasPrefix(word, "endraw") {
			return start
		}
		at = start + 2
	}
}

func (l *lexer) emitText(text string) {
	if text == "" {
		return
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	l.out.WriteString("{{ '" + r.Replace(text) + "' }}")
}

func (l *lexer) emitTag(kind byte, inner string) {
	switch kind {
	case '{':
		l.out.WriteString("{{ (" + renameFilter(inner) + ") | " + pyStrName + " }}")
	case '%':
		l.out.WriteString("{% " + renameFilter(inner) + " %}")
	}
}

func nextTagOpen(s string, from int) int {
	for i := from; i+1 < len(s); i++ {
		if s[i] == '{' && (s[i+1] == '{' || s[i+1] == '%' || s[i+1] == '#') {
			return i
		}
	}
	return -1
}

// markerAt returns the whitespace-control marker ('-' or '+') at s[i], or 0.
func markerAt(s string, i int) byte {
	if i >= 0 && i < len(s) && (s[i] == '-' || s[i] == '+') {
		return s[i]
	}
	return 0
}

func isRawOpen(s string) bool {
	word := strings.TrimLeftFunc(s, unicode.IsSpace)
	if !strings.HasPrefix(word, "raw") {
		return false
	}
	rest := strings.TrimLeftFunc(word[len("raw"):], unicode.IsSpace)
	return strings.HasPrefix(rest, "%}") || strings.HasPrefix(rest, "-%}") || strings.HasPrefix(rest, "+%}")
}

// tagEnd finds the closer of the tag whose content starts at i, skipping
// string literals and (outside comments) bracketed expressions. It returns
// the index after the closer, the content without markers and the right
// marker. An unclosed tag runs to the end of the source.
func tagEnd(s string, i int, kind byte) (end int, inner string, right byte) {
	closer := map[byte]string{'{': "}}", '%': "%}", '#': "#}"}[kind]
	depth := 0
	for j := i; j < len(s); j++ {
		c := s[j]
		switch {
		case kind != '#' && (c == '\'' || c == '"'):
			j = skipString(s, j)
		case kind != '#' && strings.IndexByte("([{", c) >= 0:
			depth++
		case depth > 0 && strings.IndexByte(")]}", c) >= 0:
			depth--
		case depth == 0 && strings.HasPrefix(s[j:], closer):
			inner = s[i:j]
			if m := markerAt(inner, len(inner)-1); m != 0 {
				return j + 2, inner[:len(inner)-1], m
			}
			return j + 2, inner, 0
		}
	}
	return len(s), s[i:], 0
}

// skipString returns the index of the quote closing the literal opened at i.
func skipString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		if s[j] == '\\' {
			j++
		} else if s[j] == q {
			return j
		}
	}
	return len(s)
}

// replacedFilters maps built-in filters to the Hugging Face / Python
// equivalents installed as template variables.
var replacedFilters = map[string]string{"tojson": hfToJSONName, "string": pyStrName, "title": titleName}

// renameFilter rewrites "| tojson", "| string" and "| title" (any spacing)
// outside string literals to their replacements.
func renameFilter(tag string) string {
	var out strings.Builder
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		if c == '\'' || c == '"' {
			j := min(skipString(tag, i), len(tag)-1)
			out.WriteString(tag[i : j+1])
			i = j
			continue
		}
		out.WriteByte(c)
		if c != '|' {
			continue
		}
		j := i + 1
		for j < len(tag) && strings.IndexByte(" \t\r\n", tag[j]) >= 0 {
			j++
		}
		k := j
		for isIdentByte(tag, k) {
			k++
		}
		if repl, ok := replacedFilters[tag[j:k]]; ok {
			out.WriteString(tag[i+1:j] + repl)
			i = k - 1
		}
	}
	return out.String()
}

func isIdentByte(s string, i int) bool {
	if i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
