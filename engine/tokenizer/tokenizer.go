// Package tokenizer encodes text to token ids and back with the Hugging Face
// tokenizer.json of a model folder, in pure Go. It runs byte-level BPE (GPT-2,
// Llama 3, Qwen) and sentencepiece-style BPE with byte fallback (Llama 2,
// Gemma, Mistral) and matches the tokenizers library token for token.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrUnsupported marks a tokenizer.json component this package cannot run;
// the error text names the component.
var ErrUnsupported = errors.New("unsupported tokenizer component")

// Tokenizer encodes and decodes text for one model. It is safe for
// concurrent use.
type Tokenizer struct {
	model     *bpe
	normalize normalizer   // nil: none
	preTok    preTokenizer // nil: the segment is one piece
	decoder   *decoder
	rawAdded  *matcherSet // added tokens matched before normalization
	normAdded *matcherSet // added tokens matched in normalized text
	prefix    []int32     // ids added before the text with addSpecial
	suffix    []int32     // and after it
	tokens    []string    // id -> token ("" for an unused id)
	added     map[string]int32
	special   []bool // by id
	config    *Config
	bos, eos  int32 // -1 when unset
}

// Load reads tokenizer.json and tokenizer_config.json (plus the optional
// special_tokens_map.json) from a model folder. A component it cannot run is
// an error wrapping ErrUnsupported that names it.
func Load(dir string) (*Tokenizer, error) {
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	var spec fileSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("load tokenizer: parse tokenizer.json: %w", err)
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := build(&spec, cfg)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", dir, err)
	}
	return t, nil
}

// build assembles a Tokenizer from the parsed files.
func build(spec *fileSpec, cfg *Config) (*Tokenizer, error) {
	t := &Tokenizer{config: cfg}
	var err error
	if t.model, err = newBPE(&spec.Model); err != nil {
		return nil, err
	}
	if t.normalize, err = newNormalizer(spec.Normalizer); err != nil {
		return nil, err
	}
	if t.preTok, err = newPreTokenizer(spec.PreTokenizer); err != nil {
		return nil, err
	}
	if t.decoder, err = newDecoder(spec.Decoder); err != nil {
		return nil, err
	}
	if err = t.indexTokens(spec.AddedTokens); err != nil {
		return nil, err
	}
	if err = t.setPostProcessor(spec.PostProcessor); err != nil {
		return nil, err
	}
	t.bos, t.eos = t.idOf(cfg.BOSToken), t.idOf(cfg.EOSToken)
	return t, nil
}

// maxTokenID bounds the ids a tokenizer.json may use (the largest real
// vocabularies have a few hundred thousand), so a corrupt file cannot make
// Load allocate id tables of gigabytes.
const maxTokenID = 1<<24 - 1

// checkID rejects an id outside [0, maxTokenID]; what names the token.
func checkID(id int32, what string) error {
	if id < 0 || id > maxTokenID {
		return fmt.Errorf("%s has id %d, outside 0..%d", what, id, maxTokenID)
	}
	return nil
}

// indexTokens builds the id tables and the added-token matchers.
func (t *Tokenizer) indexTokens(added []addedSpec) error {
	size := 0
	for tok, id := range t.model.vocab {
		if err := checkID(id, fmt.Sprintf("vocab token %q", tok)); err != nil {
			return err
		}
		size = max(size, int(id)+1)
	}
	for _, a := range added {
		if err := checkID(a.ID, fmt.Sprintf("added token %q", a.Content)); err != nil {
			return err
		}
		size = max(size, int(a.ID)+1)
	}
	t.tokens, t.special = make([]string, size), make([]bool, size)
	for tok, id := range t.model.vocab {
		t.tokens[id] = tok
	}
	t.added = make(map[string]int32, len(added))
	specials := map[string]bool{}
	var raw, norm []addedSpec
	for _, a := range added {
		t.tokens[a.ID], t.added[a.Content] = t.addedText(a), a.ID
		if a.Special {
			specials[a.Content] = true
		}
		if a.Normalized {
			norm = append(norm, a)
		} else {
			raw = append(raw, a)
		}
	}
	// The reference decides "special" by a token's text, not its id.
	for id, tok := range t.tokens {
		t.special[id] = specials[tok]
	}
	t.rawAdded = newMatcherSet(raw, t.addedText)
	t.normAdded = newMatcherSet(norm, t.addedText)
	return nil
}

// addedText is what an added token matches and decodes to: its content,
// normalized when the token is (as the reference's id_to_token returns it).
func (t *Tokenizer) addedText(a addedSpec) string {
	if !a.Normalized || t.normalize == nil {
		return a.Content
	}
	return t.normalize(a.Content)
}

func (t *Tokenizer) idOf(tok string) int32 {
	if id, ok := t.TokenID(tok); ok && tok != "" {
		return id
	}
	return -1
}

// Encode returns the ids of text. With addSpecial it adds what the
// post-processor adds (e.g. BOS), as the reference's
// encode(text, add_special_tokens=True).
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	ids := make([]int32, 0, len(text)/3+len(t.prefix)+len(t.suffix))
	if addSpecial {
		ids = append(ids, t.prefix...)
	}
	atStart := true
	for _, seg := range t.rawAdded.split(text, nil) {
		if seg.id >= 0 {
			ids = append(ids, seg.id)
		} else {
			ids = t.encodeSegment(seg.text, atStart, ids)
		}
		atStart = false
	}
	if addSpecial {
		ids = append(ids, t.suffix...)
	}
	return ids
}

// encodeSegment normalizes and encodes text between two added tokens.
func (t *Tokenizer) encodeSegment(s string, atStart bool, ids []int32) []int32 {
	if t.normalize != nil {
		s = t.normalize(s)
	}
	for _, seg := range t.normAdded.split(s, nil) {
		switch {
		case seg.id >= 0:
			ids = append(ids, seg.id)
		case seg.text == "":
		case t.preTok == nil:
			ids = t.model.tokenize(seg.text, ids)
		default:
			for _, p := range t.preTok([]string{seg.text}, atStart) {
				if p != "" {
					ids = t.model.tokenize(p, ids)
				}
			}
		}
		atStart = false
	}
	return ids
}

// Decode returns the text of ids; skipSpecial drops special tokens, as the
// reference's decode(ids, skip_special_tokens=...). Unknown ids are skipped.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if tok, ok := t.decodable(id, skipSpecial); ok {
			toks = append(toks, tok)
		}
	}
	return t.decoder.run(toks, true)
}

func (t *Tokenizer) decodable(id int32, skipSpecial bool) (string, bool) {
	if id < 0 || int(id) >= len(t.tokens) || t.tokens[id] == "" {
		return "", false
	}
	if skipSpecial && t.special[id] {
		return "", false
	}
	return t.tokens[id], true
}

// TokenID returns the id of a token string (added tokens first).
func (t *Tokenizer) TokenID(tok string) (int32, bool) {
	if id, ok := t.added[tok]; ok {
		return id, true
	}
	id, ok := t.model.vocab[tok]
	return id, ok
}

// Token returns the token string of id, "" for an unknown id.
func (t *Tokenizer) Token(id int32) string {
	if id < 0 || int(id) >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// VocabSize returns one more than the largest token id, the size of a table
// indexed by id.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// IsSpecial reports whether id is a special added token (skipped by
// Decode(ids, true)).
func (t *Tokenizer) IsSpecial(id int32) bool {
	return id >= 0 && int(id) < len(t.special) && t.special[id]
}

// BOS returns the id of tokenizer_config.json's bos_token; ok is false when
// it is unset or not in the vocabulary.
func (t *Tokenizer) BOS() (id int32, ok bool) { return t.bos, t.bos >= 0 }

// EOS returns the id of tokenizer_config.json's eos_token; ok is false when
// it is unset or not in the vocabulary. generation_config.json may list more.
func (t *Tokenizer) EOS() (id int32, ok bool) { return t.eos, t.eos >= 0 }

// Config returns the parsed tokenizer_config.json. Callers must not modify it.
func (t *Tokenizer) Config() *Config { return t.config }
