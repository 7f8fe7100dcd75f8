package tokenizer

import (
	"encoding/json"
	"fmt"
)

// fileSpec is the part of tokenizer.json this package reads.
type fileSpec struct {
	AddedTokens   []addedSpec     `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         modelSpec       `json:"model"`
}

// addedSpec is one entry of "added_tokens".
type addedSpec struct {
	ID         int32  `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// modelSpec is tokenizer.json's "model".
type modelSpec struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
}

// componentSpec holds the fields of every normalizer, pre-tokenizer,
// post-processor and decoder this package supports; Type says which.
type componentSpec struct {
	Type string `json:"type"`

	Normalizers   []json.RawMessage `json:"normalizers"`
	PreTokenizers []json.RawMessage `json:"pretokenizers"`
	Processors    []json.RawMessage `json:"processors"`
	Decoders      []json.RawMessage `json:"decoders"`

	Pattern  *patternSpec `json:"pattern"`  // Replace, Split
	Content  string       `json:"content"`  // Replace, Strip decoder
	Prepend  string       `json:"prepend"`  // Prepend
	Behavior string       `json:"behavior"` // Split
	Invert   bool         `json:"invert"`   // Split

	AddPrefixSpace *bool  `json:"add_prefix_space"` // ByteLevel, legacy Metaspace
	UseRegex       *bool  `json:"use_regex"`        // ByteLevel
	Replacement    string `json:"replacement"`      // Metaspace
	PrependScheme  string `json:"prepend_scheme"`   // Metaspace
	Split          *bool  `json:"split"`            // Metaspace
	Start          int    `json:"start"`            // Strip decoder
	Stop           int    `json:"stop"`             // Strip decoder

	Single        []templateItem             `json:"single"`         // TemplateProcessing
	SpecialTokens map[string]templateSpecial `json:"special_tokens"` // TemplateProcessing
}

// patternSpec is {"String": "..."} or {"Regex": "..."}.
type patternSpec struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type templateItem struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

type templateSpecial struct {
	IDs []int32 `json:"ids"`
}

// parseComponent decodes a component; ok is false for JSON null or absent.
func parseComponent(raw json.RawMessage) (spec componentSpec, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return spec, false, nil
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return spec, false, err
	}
	return spec, true, nil
}

// unsupported names a component this package cannot run.
func unsupported(kind, name string) error {
	return fmt.Errorf("%w: %s %q", ErrUnsupported, kind, name)
}

// parseMerges reads merges written as "a b" strings or as ["a", "b"] pairs.
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var pairs [][2]string
	if pairForm(raw) {
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, fmt.Errorf("merges: %w", err)
		}
		return pairs, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return nil, fmt.Errorf("merges: %w", err)
	}
	pairs = make([][2]string, len(lines))
	for i, l := range lines {
		a, b, ok := cutSpace(l)
		if !ok {
			return nil, fmt.Errorf("merge %d %q: want two tokens", i, l)
		}
		pairs[i] = [2]string{a, b}
	}
	return pairs, nil
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

// pairForm reports whether the merges array holds pairs (newer files) rather
// than "a b" strings, from its first element.
func pairForm(raw json.RawMessage) bool {
	seenOpen := false
	for _, c := range raw {
		switch {
		case c == ' ' || c == '\n' || c == '\r' || c == '\t':
		case c == '[' && !seenOpen:
			seenOpen = true
		default:
			return c == '['
		}
	}
	return false
}
