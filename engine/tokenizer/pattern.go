package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// matcher finds the next match of a split pattern in s at or after byte
// offset from; ok is false when there is none. Matches are never empty.
type matcher interface {
	next(s string, from int) (lo, hi int, ok bool)
}

// The split patterns real tokenizer.json files use. They need lookahead,
// which Go's regexp lacks, so they are matched by hand (gpt2Pattern is the one
// the ByteLevel pre-tokenizer applies when use_regex is true).
const (
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
)

// newRegexMatcher returns a matcher for a Split pattern: a hand-written one
// for the known patterns, else Go's regexp when the pattern compiles there.
func newRegexMatcher(pattern string) (matcher, error) {
	switch pattern {
	case llama3Pattern:
		return tiktokenMatcher{maxDigits: 3}, nil
	case qwen2Pattern:
		return tiktokenMatcher{maxDigits: 1}, nil
	case gpt2Pattern:
		return gpt2Matcher{}, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%w: Split regex %q: %v", ErrUnsupported, pattern, err)
	}
	return goRegexp{re}, nil
}

type goRegexp struct{ re *regexp.Regexp }

func (g goRegexp) next(s string, from int) (int, int, bool) {
	for from < len(s) {
		loc := g.re.FindStringIndex(s[from:])
		if loc == nil {
			return 0, 0, false
		}
		if loc[1] > loc[0] {
			return from + loc[0], from + loc[1], true
		}
		_, size := utf8.DecodeRuneInString(s[from+loc[0]:])
		from += loc[0] + size
	}
	return 0, 0, false
}

// literal matches a fixed string (Split with a String pattern).
type literal string

func (l literal) next(s string, from int) (int, int, bool) {
	if l == "" {
		return 0, 0, false
	}
	i := strings.Index(s[from:], string(l))
	if i < 0 {
		return 0, 0, false
	}
	return from + i, from + i + len(l), true
}

// Character classes as Oniguruma sees them: \s is White_Space, \p{L} and
// \p{N} the Unicode general categories.
func isSpace(r rune) bool  { return unicode.IsSpace(r) }
func isLetter(r rune) bool { return unicode.IsLetter(r) }
func isNumber(r rune) bool { return unicode.IsNumber(r) }
func isOther(r rune) bool  { return !isSpace(r) && !isLetter(r) && !isNumber(r) }

func runeAt(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// span advances from i over runes that satisfy f, at most max of them (max < 0:
// no limit), and returns the end offset and the count.
func span(s string, i int, f func(rune) bool, max int) (int, int) {
	n := 0
	for max < 0 || n < max {
		r, size := runeAt(s, i)
		if size == 0 || !f(r) {
			break
		}
		i += size
		n++
	}
	return i, n
}

// contraction matches 's 't 're 've 'm 'll 'd at i; fold makes the letters
// match either case (ASCII only, as the reference does).
func contraction(s string, i int, fold bool) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return 0
	}
	low := func(c byte) byte {
		if fold && c >= 'A' && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	var second byte // the letter a three-character contraction needs next
	switch low(s[i+1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		second = 'e'
	case 'l':
		second = 'l'
	default:
		return 0
	}
	if i+2 < len(s) && low(s[i+2]) == second {
		return 3
	}
	return 0
}

// trailingSpaces matches \s+(?!\S)|\s+ at i: a whitespace run, minus its last
// character when a non-space follows and the run is longer than one.
func trailingSpaces(s string, i int) int {
	end, n := span(s, i, isSpace, -1)
	if n == 0 {
		return i
	}
	if end < len(s) && n > 1 {
		_, size := utf8.DecodeLastRuneInString(s[:end])
		return end - size
	}
	return end
}

// tiktokenMatcher implements llama3Pattern and qwen2Pattern, which differ
// only in how many digits one number piece may hold.
type tiktokenMatcher struct{ maxDigits int }

func (m tiktokenMatcher) next(s string, from int) (int, int, bool) {
	if from >= len(s) {
		return 0, 0, false
	}
	return from, m.matchAt(s, from), true
}

func (m tiktokenMatcher) matchAt(s string, i int) int {
	if n := contraction(s, i, true); n > 0 {
		return i + n
	}
	r, size := runeAt(s, i)
	if isLetter(r) {
		end, _ := span(s, i, isLetter, -1)
		return end
	}
	if r != '\r' && r != '\n' && !isNumber(r) {
		if r2, _ := runeAt(s, i+size); isLetter(r2) {
			end, _ := span(s, i+size, isLetter, -1)
			return end
		}
	}
	if isNumber(r) {
		end, _ := span(s, i, isNumber, m.maxDigits)
		return end
	}
	if end := punctRun(s, i); end > i {
		end, _ = span(s, end, isNewline, -1)
		return end
	}
	return m.spaces(s, i)
}

// spaces matches \s*[\r\n]+|\s+(?!\S)|\s+ at i, where s[i] is whitespace.
func (tiktokenMatcher) spaces(s string, i int) int {
	end, _ := span(s, i, isSpace, -1)
	lastNL := -1
	for j := i; j < end; {
		r, size := runeAt(s, j)
		if r == '\r' || r == '\n' {
			lastNL = j + size
		}
		j += size
	}
	if lastNL > 0 {
		return lastNL
	}
	return trailingSpaces(s, i)
}

func isNewline(r rune) bool { return r == '\r' || r == '\n' }

// punctRun matches " ?[^\s\p{L}\p{N}]+" at i and returns its end (i if none).
func punctRun(s string, i int) int {
	j := i
	if j < len(s) && s[j] == ' ' {
		j++
	}
	// Without the space the class cannot match either: ' ' is whitespace.
	if end, n := span(s, j, isOther, -1); n > 0 {
		return end
	}
	return i
}

// gpt2Matcher implements gpt2Pattern.
type gpt2Matcher struct{}

func (gpt2Matcher) next(s string, from int) (int, int, bool) {
	if from >= len(s) {
		return 0, 0, false
	}
	return from, gpt2MatchAt(s, from), true
}

func gpt2MatchAt(s string, i int) int {
	if n := contraction(s, i, false); n > 0 {
		return i + n
	}
	j := i
	if s[j] == ' ' {
		j++
	}
	for _, f := range []func(rune) bool{isLetter, isNumber, isOther} {
		if end, n := span(s, j, f, -1); n > 0 {
			return end
		}
	}
	return trailingSpaces(s, i)
}
