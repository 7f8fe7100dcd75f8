package gguf

import (
	"fmt"
	"strings"
)

// preSpec is how llama.cpp pre-tokenizes text for one tokenizer.ggml.pre of
// the gpt2 model (llm_tokenizer_bpe and llama_vocab::impl::load in
// src/llama-vocab.cpp): regexes applied one after another, each splitting the
// pieces of the one before and keeping what it does not match, then GPT-2's
// byte-to-character map.
type preSpec struct {
	regexes      []string
	ignoreMerges bool // a pre-token that is a whole token skips the merges
	addBOS       bool // the default of add_bos_token
	cleanSpaces  bool // llama.cpp's clean_spaces (clean_up_tokenization_spaces)
}

// The split patterns as Hugging Face's tokenizer.json files write them, which
// engine/tokenizer matches by hand (they need lookahead). llama.cpp's own
// copies differ only in form: its GPT-2 pattern lacks the final \s+, which
// its hand-written matcher applies anyway, and its Llama 3 and Qwen 2
// patterns spell the case-insensitive contractions as [sS] and so on.
const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// preSpecs maps each supported tokenizer.ggml.pre to its spec; "" is a GGUF
// without the key, which llama.cpp runs with "default".
var preSpecs = func() map[string]preSpec {
	groups := []struct {
		names string
		spec  preSpec
	}{
		{" default", preSpec{regexes: []string{`[\p{P}\$\+<=>\^~\|]+`, gpt2Pattern, `\p{N}+`, `[0-9][0-9][0-9]`}, cleanSpaces: true}},
		{"gpt-2 phi-2 gigachat a.x-4.0 mellum exaone4 mpt olmo jais", preSpec{regexes: []string{gpt2Pattern}, cleanSpaces: true}},
		{"trillion granite-docling", preSpec{regexes: []string{gpt2Pattern}}},
		{"starcoder refact codeshell exaone minerva-7b mellum2", preSpec{regexes: []string{`\p{N}`, gpt2Pattern}, cleanSpaces: true}},
		{"smollm command-r", preSpec{regexes: []string{`\p{N}`, gpt2Pattern}}},
		{"falcon", preSpec{regexes: []string{"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2Pattern, `[0-9][0-9][0-9]`}, cleanSpaces: true}},
		{"llama3 llama-v3 llama-bpe falcon3 falcon-h1 pixtral midm-2.0 lfm2 jina-v5-nano",
			preSpec{regexes: []string{llama3Pattern}, ignoreMerges: true, addBOS: true, cleanSpaces: true}},
		{"dbrx smaug-bpe", preSpec{regexes: []string{llama3Pattern}, cleanSpaces: true}},
		{"qwen2 deepseek-r1-qwen kormo f2llmv2 hunyuan solar-open", preSpec{regexes: []string{qwen2Pattern}}},
		{"megrez stablelm2", preSpec{regexes: []string{qwen2Pattern}, cleanSpaces: true}},
	}
	m := map[string]preSpec{}
	for _, g := range groups {
		for _, name := range strings.Split(g.names, " ") {
			m[name] = g.spec
		}
	}
	return m
}()

// readPre reads tokenizer.ggml.pre and applies its defaults.
func (v *vocab) readPre(md map[string]any) error {
	pre, _, err := metaString(md, "tokenizer.ggml.pre")
	if err != nil {
		return err
	}
	spec, ok := preSpecs[pre]
	if !ok {
		return fmt.Errorf("%w: gpt2 pre-tokenizer %q", ErrUnsupported, pre)
	}
	v.pre, v.addBOS, v.cleanSpaces = &spec, spec.addBOS, spec.cleanSpaces
	return nil
}

// bpeModel returns the byte-level BPE model: every token in the vocabulary
// (llama.cpp looks up one table for all of them) and the merges in rank order.
func (v *vocab) bpeModel() map[string]any {
	return map[string]any{
		"type": "BPE", "dropout": nil, "unk_token": nil,
		"continuing_subword_prefix": nil, "end_of_word_suffix": nil,
		"fuse_unk": false, "byte_fallback": false, "ignore_merges": v.pre.ignoreMerges,
		"vocab": v.ids, "merges": v.bpeMerges(),
	}
}

// bpeMerges splits "left right" merges at the first space after the first
// byte, as llama.cpp does. A merge whose parts or result are not tokens, or
// that repeats an earlier one, is dropped: llama.cpp keeps the first rank of
// a pair, and a merge into no token cannot give a token.
func (v *vocab) bpeMerges() [][2]string {
	out := make([][2]string, 0, len(v.merges))
	seen := make(map[[2]string]bool, len(v.merges))
	for _, m := range v.merges {
		i := strings.IndexByte(m[min(1, len(m)):], ' ') + 1
		if i <= 0 {
			continue
		}
		pair := [2]string{m[:i], m[i+1:]}
		_, okL := v.ids[pair[0]]
		_, okR := v.ids[pair[1]]
		_, okM := v.ids[pair[0]+pair[1]]
		if okL && okR && okM && !seen[pair] {
			seen[pair] = true
			out = append(out, pair)
		}
	}
	return out
}

// bpePreTokenizer splits with the pre type's regexes, then maps bytes to
// GPT-2's characters (the split already done, so without its own regex).
func (v *vocab) bpePreTokenizer() map[string]any {
	var steps []any
	for _, re := range v.pre.regexes {
		steps = append(steps, map[string]any{"type": "Split", "pattern": map[string]any{"Regex": re},
			"behavior": "Isolated", "invert": false})
	}
	steps = append(steps, map[string]any{"type": "ByteLevel", "add_prefix_space": false,
		"trim_offsets": false, "use_regex": false})
	return map[string]any{"type": "Sequence", "pretokenizers": steps}
}
