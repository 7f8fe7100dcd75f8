package tokenizer

import (
	"encoding/json"
	"strings"
)

// preTokenizer splits normalized text into the pieces the model encodes one
// by one. atStart says pieces[0] begins the whole input (Metaspace's
// prepend_scheme "first" depends on it).
type preTokenizer func(pieces []string, atStart bool) []string

// newPreTokenizer builds tokenizer.json's "pre_tokenizer"; nil when absent.
func newPreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	spec, ok, err := parseComponent(raw)
	if err != nil || !ok {
		return nil, err
	}
	switch spec.Type {
	case "Sequence":
		return preTokenizerSequence(spec.PreTokenizers)
	case "Split":
		return newSplit(&spec)
	case "ByteLevel":
		return newByteLevelPre(&spec)
	case "Metaspace":
		return newMetaspacePre(&spec)
	}
	return nil, unsupported("pre_tokenizer", spec.Type)
}

func preTokenizerSequence(raws []json.RawMessage) (preTokenizer, error) {
	var steps []preTokenizer
	for _, r := range raws {
		p, err := newPreTokenizer(r)
		if err != nil {
			return nil, err
		}
		if p != nil {
			steps = append(steps, p)
		}
	}
	return func(pieces []string, atStart bool) []string {
		for _, p := range steps {
			pieces = p(pieces, atStart)
		}
		return pieces
	}, nil
}

// newSplit builds the Split pre-tokenizer.
func newSplit(spec *componentSpec) (preTokenizer, error) {
	if spec.Invert {
		return nil, unsupported("Split option", "invert")
	}
	var m matcher
	switch p := spec.Pattern; {
	case p != nil && p.String != nil:
		m = literal(*p.String)
	case p != nil && p.Regex != nil:
		var err error
		if m, err = newRegexMatcher(*p.Regex); err != nil {
			return nil, err
		}
	default:
		return nil, unsupported("Split pattern", "missing")
	}
	behave, ok := splitBehaviors[spec.Behavior]
	if !ok {
		return nil, unsupported("Split behavior", spec.Behavior)
	}
	return func(pieces []string, _ bool) []string {
		var out []string
		for _, p := range pieces {
			out = behave(splitMatches(p, m), out)
		}
		return out
	}, nil
}

// part is a piece of a split: a pattern match or the text between two.
type part struct {
	text    string
	isMatch bool
}

func splitMatches(s string, m matcher) []part {
	var parts []part
	done := 0
	for from := 0; from < len(s); {
		lo, hi, ok := m.next(s, from)
		if !ok {
			break
		}
		if lo > done {
			parts = append(parts, part{s[done:lo], false})
		}
		parts = append(parts, part{s[lo:hi], true})
		done, from = hi, hi
	}
	if done < len(s) {
		parts = append(parts, part{s[done:], false})
	}
	return parts
}

// splitBehaviors are the Split delimiter behaviours: what becomes of matches.
var splitBehaviors = map[string]func([]part, []string) []string{
	"Isolated": func(parts []part, out []string) []string {
		for _, p := range parts {
			out = append(out, p.text)
		}
		return out
	},
	"Removed": func(parts []part, out []string) []string {
		for _, p := range parts {
			if !p.isMatch {
				out = append(out, p.text)
			}
		}
		return out
	},
	"MergedWithPrevious": func(parts []part, out []string) []string {
		n0, prevMatch := len(out), false
		for _, p := range parts {
			if p.isMatch && !prevMatch && len(out) > n0 {
				out[len(out)-1] += p.text
			} else {
				out = append(out, p.text)
			}
			prevMatch = p.isMatch
		}
		return out
	},
	"MergedWithNext": func(parts []part, out []string) []string {
		var rev []string
		nextMatch := false
		for i := len(parts) - 1; i >= 0; i-- {
			p := parts[i]
			if p.isMatch && !nextMatch && len(rev) > 0 {
				rev[len(rev)-1] = p.text + rev[len(rev)-1]
			} else {
				rev = append(rev, p.text)
			}
			nextMatch = p.isMatch
		}
		for i := len(rev) - 1; i >= 0; i-- {
			out = append(out, rev[i])
		}
		return out
	},
	"Contiguous": func(parts []part, out []string) []string {
		n0, prevMatch := len(out), false
		for _, p := range parts {
			if p.isMatch == prevMatch && len(out) > n0 {
				out[len(out)-1] += p.text
			} else {
				out = append(out, p.text)
			}
			prevMatch = p.isMatch
		}
		return out
	},
}

// newByteLevelPre builds the ByteLevel pre-tokenizer: an optional leading
// space, the GPT-2 split (use_regex) and the byte-to-character map.
func newByteLevelPre(spec *componentSpec) (preTokenizer, error) {
	prefix := spec.AddPrefixSpace != nil && *spec.AddPrefixSpace
	useRegex := spec.UseRegex == nil || *spec.UseRegex
	return func(pieces []string, _ bool) []string {
		var out []string
		for _, p := range pieces {
			if prefix && !strings.HasPrefix(p, " ") {
				p = " " + p
			}
			if !useRegex {
				out = append(out, byteLevelEncode(p))
				continue
			}
			for from := 0; from < len(p); {
				_, hi, _ := gpt2Matcher{}.next(p, from)
				out = append(out, byteLevelEncode(p[from:hi]))
				from = hi
			}
		}
		return out
	}, nil
}

// newMetaspacePre builds the Metaspace pre-tokenizer: spaces become the
// replacement character, one is prepended by prepend_scheme, and with split
// the text is cut before each replacement character.
func newMetaspacePre(spec *componentSpec) (preTokenizer, error) {
	rep := spec.Replacement
	scheme, err := prependScheme(spec)
	if err != nil {
		return nil, err
	}
	split := spec.Split == nil || *spec.Split
	merge := splitBehaviors["MergedWithNext"]
	return func(pieces []string, atStart bool) []string {
		var out []string
		for i, p := range pieces {
			p = strings.ReplaceAll(p, " ", rep)
			first := atStart && i == 0
			if (scheme == "always" || scheme == "first" && first) && !strings.HasPrefix(p, rep) {
				p = rep + p
			}
			if split {
				out = merge(splitMatches(p, literal(rep)), out)
			} else {
				out = append(out, p)
			}
		}
		return out
	}, nil
}

// prependScheme reads Metaspace's prepend_scheme, or the older boolean
// add_prefix_space it replaced.
func prependScheme(spec *componentSpec) (string, error) {
	switch s := spec.PrependScheme; s {
	case "always", "first", "never":
		return s, nil
	case "":
		if spec.AddPrefixSpace != nil && !*spec.AddPrefixSpace {
			return "never", nil
		}
		return "always", nil
	default:
		return "", unsupported("Metaspace prepend_scheme", s)
	}
}
