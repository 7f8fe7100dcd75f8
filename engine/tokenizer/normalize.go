package tokenizer

import (
	"encoding/json"
	"regexp"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// normalizer rewrites a text segment before pre-tokenization.
type normalizer func(string) string

// newNormalizer builds tokenizer.json's "normalizer"; nil when absent.
func newNormalizer(raw json.RawMessage) (normalizer, error) {
	spec, ok, err := parseComponent(raw)
	if err != nil || !ok {
		return nil, err
	}
	switch spec.Type {
	case "Sequence":
		return normalizerSequence(spec.Normalizers)
	case "NFC":
		return norm.NFC.String, nil
	case "NFD":
		return norm.NFD.String, nil
	case "NFKC":
		return norm.NFKC.String, nil
	case "NFKD":
		return norm.NFKD.String, nil
	case "Lowercase":
		return strings.ToLower, nil
	case "Prepend":
		return func(s string) string {
			if s == "" {
				return s
			}
			return spec.Prepend + s
		}, nil
	case "Replace":
		return newReplace(spec.Pattern, spec.Content, "normalizer")
	}
	return nil, unsupported("normalizer", spec.Type)
}

func normalizerSequence(raws []json.RawMessage) (normalizer, error) {
	var steps []normalizer
	for _, r := range raws {
		n, err := newNormalizer(r)
		if err != nil {
			return nil, err
		}
		if n != nil {
			steps = append(steps, n)
		}
	}
	return func(s string) string {
		for _, n := range steps {
			s = n(s)
		}
		return s
	}, nil
}

// newReplace builds a Replace normalizer or decoder step: a literal pattern,
// or a regex that Go's regexp accepts.
func newReplace(p *patternSpec, content, kind string) (func(string) string, error) {
	switch {
	case p != nil && p.String != nil:
		old := *p.String
		return func(s string) string { return strings.ReplaceAll(s, old, content) }, nil
	case p != nil && p.Regex != nil:
		re, err := regexp.Compile(*p.Regex)
		if err != nil {
			return nil, unsupported(kind+" Replace regex", *p.Regex)
		}
		return func(s string) string { return re.ReplaceAllLiteralString(s, content) }, nil
	}
	return nil, unsupported(kind+" Replace pattern", "missing")
}
