package chat

import (
	"fmt"
	"strings"
	"time"
)

// hfToJSONName is the filter name that replaces tojson in template sources.
// The jinja package resolves its built-in filters before template variables,
// so Hugging Face's tojson (see hfToJSON) can only be installed under a name
// of its own.
const hfToJSONName = "lmx_hf_tojson"

// rewriteToJSON renames every "| tojson" filter application inside Jinja tags
// to hfToJSONName. It skips comments, {% raw %} blocks and string literals, so
// template text that merely mentions tojson is left alone.
func rewriteToJSON(src string) string {
	var out strings.Builder
	for {
		open := nextTagOpen(src)
		if open < 0 {
			out.WriteString(src)
			return out.String()
		}
		out.WriteString(src[:open])
		src = src[open:]
		n := tagLength(src)
		tag := src[:n]
		if strings.HasPrefix(tag, "{{") || strings.HasPrefix(tag, "{%") {
			tag = renameFilter(tag)
		}
		out.WriteString(tag)
		src = src[n:]
		if isRawTag(tag) {
			end := strings.Index(src, "endraw")
			if end < 0 {
				end = len(src)
			}
			out.WriteString(src[:end])
			src = src[end:]
		}
	}
}

func nextTagOpen(s string) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '{' && (s[i+1] == '{' || s[i+1] == '%' || s[i+1] == '#') {
			return i
		}
	}
	return -1
}

// tagLength returns the length of the tag at the start of s, through its
// closing delimiter, skipping quoted strings; an unclosed tag runs to the end.
func tagLength(s string) int {
	closer := map[byte]string{'{': "}}", '%': "%}", '#': "#}"}[s[1]]
	if s[1] == '#' {
		if end := strings.Index(s[2:], closer); end >= 0 {
			return end + 4
		}
		return len(s)
	}
	for i := 2; i < len(s); i++ {
		switch {
		case s[i] == '\'' || s[i] == '"':
			i = skipString(s, i)
		case strings.HasPrefix(s[i:], closer):
			return i + 2
		}
	}
	return len(s)
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

func isRawTag(tag string) bool {
	body := strings.Trim(tag, "{%}-+ \t\r\n")
	return tag[1] == '%' && body == "raw"
}

// renameFilter rewrites "|tojson" (any spacing) outside string literals.
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
		if strings.HasPrefix(tag[j:], "tojson") && !isIdentByte(tag, j+len("tojson")) {
			out.WriteString(tag[i+1:j] + hfToJSONName)
			i = j + len("tojson") - 1
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

// strftime formats t with a Python/C strftime pattern, including glibc's
// "%-d"-style no-padding flag that chat templates use.
func strftime(t time.Time, pattern string) string {
	var out strings.Builder
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '%' || i+1 == len(pattern) {
			out.WriteByte(pattern[i])
			continue
		}
		i++
		noPad := pattern[i] == '-' && i+1 < len(pattern)
		if noPad {
			i++
		}
		out.WriteString(strftimeVerb(t, pattern[i], noPad))
	}
	return out.String()
}

func strftimeVerb(t time.Time, verb byte, noPad bool) string {
	num := func(n, width int) string {
		if noPad {
			return fmt.Sprint(n)
		}
		return fmt.Sprintf("%0*d", width, n)
	}
	switch verb {
	case 'Y':
		return fmt.Sprint(t.Year())
	case 'y':
		return num(t.Year()%100, 2)
	case 'm':
		return num(int(t.Month()), 2)
	case 'd':
		return num(t.Day(), 2)
	case 'e':
		return fmt.Sprintf("%2d", t.Day())
	case 'H':
		return num(t.Hour(), 2)
	case 'I':
		return num((t.Hour()+11)%12+1, 2)
	case 'M':
		return num(t.Minute(), 2)
	case 'S':
		return num(t.Second(), 2)
	case 'j':
		return num(t.YearDay(), 3)
	case 'p':
		return t.Format("PM")
	case 'B':
		return t.Month().String()
	case 'b', 'h':
		return t.Month().String()[:3]
	case 'A':
		return t.Weekday().String()
	case 'a':
		return t.Weekday().String()[:3]
	case '%':
		return "%"
	}
	return "%" + string(verb)
}
