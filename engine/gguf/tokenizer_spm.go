package gguf

import (
	"cmp"
	"slices"
	"unicode/utf8"
)

// llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm_session in
// src/llama-vocab.cpp) starts from the characters of the text, with every
// space escaped to U+2581 and one prepended to each fragment of text when
// add_space_prefix is set. It merges, highest token score first, any two
// neighbours whose concatenation is a token, and spells a character that is
// no token with the <0xNN> byte tokens. That is BPE whose merge list holds
// every split of every token into two tokens, ranked by the score of the
// token they make: the form Hugging Face's conversion of a SentencePiece
// model writes (byte fallback, Prepend and Replace normalizers, no
// pre-tokenizer).

// spmMerge is one way to make token id from two tokens.
type spmMerge struct {
	left, right string
	id          int
	split       int // byte offset of the split in the token
}

// spmMerges lists, for every token, its splits into two tokens at character
// boundaries, ordered by the token's score (highest first), then by id and
// split. llama.cpp breaks a tie of scores by position in the text instead,
// which a ranked list cannot say; SentencePiece vocabularies give every
// mergeable token its own score.
func (v *vocab) spmMerges() [][2]string {
	var merges []spmMerge
	for id, tok := range v.tokens {
		for i := 0; i < len(tok); {
			_, size := utf8.DecodeRuneInString(tok[i:])
			i += size
			if i >= len(tok) {
				break
			}
			_, okL := v.ids[tok[:i]]
			_, okR := v.ids[tok[i:]]
			if okL && okR {
				merges = append(merges, spmMerge{tok[:i], tok[i:], id, i})
			}
		}
	}
	score := func(id int) float64 {
		if v.scores == nil {
			return 0
		}
		return v.scores[id]
	}
	slices.SortFunc(merges, func(a, b spmMerge) int {
		return cmp.Or(cmp.Compare(score(b.id), score(a.id)), cmp.Compare(a.id, b.id), cmp.Compare(a.split, b.split))
	})
	out := make([][2]string, len(merges))
	for i, m := range merges {
		out[i] = [2]string{m.left, m.right}
	}
	return out
}

// spmModel returns the BPE model with byte fallback.
func (v *vocab) spmModel() map[string]any {
	return map[string]any{
		"type": "BPE", "dropout": nil, "unk_token": v.tokenName(v.unk),
		"continuing_subword_prefix": nil, "end_of_word_suffix": nil,
		"fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
		"vocab": v.ids, "merges": v.spmMerges(),
	}
}

// spmNormalizer escapes spaces, after prepending one to each fragment with
// add_space_prefix (llama.cpp adds it to the text at the start and after
// every special token; the normalizer runs on each text between added tokens).
func (v *vocab) spmNormalizer() map[string]any {
	escape := map[string]any{"type": "Replace", "pattern": map[string]any{"String": " "}, "content": "▁"}
	if !v.addSpacePrefix {
		return escape
	}
	return map[string]any{"type": "Sequence", "normalizers": []any{
		map[string]any{"type": "Prepend", "prepend": "▁"}, escape}}
}

// spmDecoder unescapes spaces, joins byte tokens and drops the prepended
// space of the first token (llama_vocab::impl::detokenize's remove_space).
func (v *vocab) spmDecoder() map[string]any {
	steps := []any{
		map[string]any{"type": "Replace", "pattern": map[string]any{"String": "▁"}, "content": " "},
		map[string]any{"type": "ByteFallback"},
		map[string]any{"type": "Fuse"},
	}
	if v.addSpacePrefix {
		steps = append(steps, map[string]any{"type": "Strip", "content": " ", "start": 1, "stop": 0})
	}
	return map[string]any{"type": "Sequence", "decoders": steps}
}
