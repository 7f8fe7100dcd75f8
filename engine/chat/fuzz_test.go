package chat

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// allMarkers are removed before comparing the parser's output to its input.
var allMarkers = []string{thinkOpen, thinkClose, hermesOpen, hermesClose, llamaPythonTag,
	mistralOpen, mistralArgs, gemmaOpen, gemmaClose}

// normalize drops markers and whitespace: what the parser may remove. It
// drops markers until none is left, since removing one can join the text
// around it into another ("<think</think>>": the parser takes "</think>" and
// keeps "<think" and ">", which read together as a marker).
func normalize(s string) string {
	for prev := ""; prev != s; {
		prev = s
		for _, m := range allMarkers {
			s = strings.ReplaceAll(s, m, "")
		}
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// FuzzParser: for any output and chunking the parser does not panic, loses
// no text (content, reasoning and tool-call text together are the input less
// markers and whitespace), and streams to the same result as Parse.
func FuzzParser(f *testing.F) {
	for i, tc := range parseCases {
		f.Add(tc.output, uint8(tc.format), tc.opts.Thinking, tc.opts.StartInReasoning, uint64(i))
	}
	f.Add("<think</think>>", uint8(FormatLlama3), true, true, uint64(0))
	f.Fuzz(func(t *testing.T, text string, format uint8, thinking, startIn bool, seed uint64) {
		opts := Options{Thinking: thinking, StartInReasoning: startIn}
		fm := Format(format % uint8(len(formatNames)))
		chunks := randomChunks(rand.New(rand.NewPCG(seed, 1)), text)
		p := NewParser(fm, withIDs(opts))
		var events []Event
		for _, c := range chunks {
			events = append(events, p.Feed(c)...)
		}
		events = append(events, p.Finish()...)
		var out strings.Builder
		for _, e := range events {
			out.WriteString(e.Text + e.Raw)
		}
		if normalize(out.String()) != normalize(text) {
			t.Fatalf("%v %+v lost text:\n in %q\nout %q", fm, opts, text, out.String())
		}
		whole := feedChunks(fm, opts, []string{text})
		if got := Collect(events); !reflect.DeepEqual(got, whole) {
			t.Fatalf("%v %+v chunks %q\nstream %+v\n whole %+v", fm, opts, chunks, got, whole)
		}
	})
}
