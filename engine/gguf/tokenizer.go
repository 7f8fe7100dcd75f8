package gguf

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/lmx-app/lmx/engine/convert"
)

// WriteTokenizerFiles writes tokenizer.json and tokenizer_config.json into
// dir from a GGUF file's metadata (File.Metadata), so that engine/tokenizer
// and engine/chat load the folder like a Hugging Face one and encode text as
// llama.cpp does for that GGUF. It reads the "gpt2" (byte-level BPE) and
// "llama" (SentencePiece BPE) tokenizer models; another model, or a gpt2
// pre-tokenizer (tokenizer.ggml.pre) it does not know, is an error wrapping
// ErrUnsupported that names it.
func WriteTokenizerFiles(dir string, md map[string]any) error {
	v, err := readVocab(md)
	if err != nil {
		return fmt.Errorf("write tokenizer files: %w", err)
	}
	doc := v.tokenizerJSON()
	cfg, err := v.tokenizerConfig(md)
	if err != nil {
		return fmt.Errorf("write tokenizer files: %w", err)
	}
	for name, content := range map[string]any{"tokenizer.json": doc, "tokenizer_config.json": cfg} {
		if err := convert.WriteJSON(filepath.Join(dir, name), content); err != nil {
			return fmt.Errorf("write tokenizer files: %w", err)
		}
	}
	return nil
}

// Token types of tokenizer.ggml.token_type (llama.cpp's llama_token_type).
const (
	tokenNormal      = 1
	tokenUnknown     = 2
	tokenControl     = 3
	tokenUserDefined = 4
)

// vocab is the tokenizer part of the metadata, with llama.cpp's defaults
// applied (llama_vocab::impl::load in src/llama-vocab.cpp).
type vocab struct {
	model  string    // tokenizer.ggml.model
	pre    *preSpec  // the gpt2 pre-tokenizer; nil for llama
	tokens []string  // by id; an empty token is "[EMPTY_<id>]" as in llama.cpp
	types  []int64   // by id
	scores []float64 // by id; nil when absent
	merges []string  // tokenizer.ggml.merges (gpt2)

	ids                  map[string]int // token -> id
	special, userDefined []bool         // by id, from classify

	bos, eos, unk, pad int // -1: none
	addBOS, addEOS     bool
	addSpacePrefix     bool // llama: prepend a space to text that starts a fragment
	cleanSpaces        bool // llama.cpp's clean_spaces (clean_up_tokenization_spaces)
}

func readVocab(md map[string]any) (*vocab, error) {
	model, ok, err := metaString(md, "tokenizer.ggml.model")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no tokenizer.ggml.model", ErrUnsupported)
	}
	v := &vocab{model: model, bos: -1, eos: -1, unk: -1, pad: -1}
	switch model {
	case "llama":
		// SentencePiece defaults: <unk> <s> </s> at 0 1 2, BOS added, a
		// space prefix, no space clean-up.
		v.bos, v.eos, v.unk, v.addBOS, v.addSpacePrefix = 1, 2, 0, true, true
	case "gpt2":
		if err := v.readPre(md); err != nil {
			return nil, err
		}
		v.bos, v.eos = 11, 11 // llama.cpp's BPE defaults when the ids are absent
	default:
		return nil, fmt.Errorf("%w: tokenizer model %q (LMX reads \"gpt2\" and \"llama\")", ErrUnsupported, model)
	}
	if err := v.readTokens(md); err != nil {
		return nil, err
	}
	if err := v.readSpecialIDs(md); err != nil {
		return nil, err
	}
	if err := v.readFlags(md); err != nil {
		return nil, err
	}
	v.classify(md)
	return v, nil
}

// readTokens reads the token list, types, scores and merges.
func (v *vocab) readTokens(md map[string]any) error {
	tokens, ok, err := metaStrings(md, "tokenizer.ggml.tokens")
	if err != nil {
		return err
	}
	if !ok || len(tokens) == 0 {
		return fmt.Errorf("%w: no tokenizer.ggml.tokens", ErrCorrupt)
	}
	v.tokens = make([]string, len(tokens))
	v.ids = make(map[string]int, len(tokens))
	for i, tok := range tokens {
		if tok == "" {
			tok = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		if j, dup := v.ids[tok]; dup {
			return fmt.Errorf("%w: duplicate token %q at ids %d and %d", ErrCorrupt, tok, j, i)
		}
		v.tokens[i], v.ids[tok] = tok, i
	}
	if v.types, err = metaInts(md, "tokenizer.ggml.token_type", len(tokens)); err != nil {
		return err
	}
	if v.types == nil {
		v.types = make([]int64, len(tokens))
		for i := range v.types {
			v.types[i] = tokenNormal
		}
	}
	if v.scores, err = metaFloats(md, "tokenizer.ggml.scores", len(tokens)); err != nil {
		return err
	}
	if v.model == "gpt2" {
		merges, ok, err := metaStrings(md, "tokenizer.ggml.merges")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: gpt2 tokenizer without tokenizer.ggml.merges", ErrCorrupt)
		}
		v.merges = merges
	}
	return nil
}

// readSpecialIDs reads the BOS, EOS, unknown and padding ids; an id outside
// the vocabulary keeps the default, as llama.cpp does.
func (v *vocab) readSpecialIDs(md map[string]any) error {
	for _, s := range []struct {
		key string
		dst *int
	}{
		{"tokenizer.ggml.bos_token_id", &v.bos},
		{"tokenizer.ggml.eos_token_id", &v.eos},
		{"tokenizer.ggml.unknown_token_id", &v.unk},
		{"tokenizer.ggml.padding_token_id", &v.pad},
	} {
		if *s.dst >= len(v.tokens) {
			*s.dst = -1
		}
		id, ok, err := metaInt(md, s.key)
		if err != nil {
			return err
		}
		if ok && id >= 0 && id < int64(len(v.tokens)) {
			*s.dst = int(id)
		}
	}
	return nil
}

// readFlags reads add_bos_token, add_eos_token and add_space_prefix over the
// model's defaults.
func (v *vocab) readFlags(md map[string]any) error {
	for key, dst := range map[string]*bool{
		"tokenizer.ggml.add_bos_token":    &v.addBOS,
		"tokenizer.ggml.add_eos_token":    &v.addEOS,
		"tokenizer.ggml.add_space_prefix": &v.addSpacePrefix,
	} {
		b, ok, err := metaBool(md, key)
		if err != nil {
			return err
		}
		if ok {
			*dst = b
		}
	}
	if v.model == "gpt2" {
		v.addSpacePrefix = false // llama.cpp prepends no space to BPE text
	}
	switch {
	case v.addBOS && v.bos < 0:
		return fmt.Errorf("%w: add_bos_token is true but there is no BOS token", ErrCorrupt)
	case v.addEOS && v.eos < 0:
		return fmt.Errorf("%w: add_eos_token is true but there is no EOS token", ErrCorrupt)
	}
	return nil
}

// Token texts llama.cpp treats as control tokens whatever their type (its
// detection of special tokens by text in llama_vocab::impl::load): the
// end-of-generation texts always, the others (end of turn, fill in the
// middle) when the metadata does not name that token's id. The last group
// it turns into user-defined tokens (gpt-oss).
var (
	eogNames = strings.Fields(`<|eot_id|> <|im_end|> <|end|> <|return|> <|call|> <|flush|> <|calls|>
		<end_of_turn> <|endoftext|> </s> <|eom_id|> <EOT> _<EOT> [EOT] [EOS] <|end_of_text|>
		<end_of_utterance> <eos> <turn|> <|tool_response> <｜end▁of▁sentence｜> [e~[`)
	namedControls = []struct{ key, names string }{
		{"tokenizer.ggml.eot_token_id", `<|eot_id|> <|im_end|> <|end|> <end_of_turn> <|endoftext|> <|end_of_text|> <EOT> _<EOT> [EOT] <｜end▁of▁sentence｜> <end_of_utterance>`},
		{"tokenizer.ggml.eom_token_id", `<|eom_id|>`},
		{"tokenizer.ggml.fim_pre_token_id", `<|fim_prefix|> <fim-prefix> <fim_prefix> <｜fim▁begin｜> <PRE> ▁<PRE> <|code_prefix|> <|prefix|>`},
		{"tokenizer.ggml.fim_suf_token_id", `<|fim_suffix|> <fim-suffix> <fim_suffix> <｜fim▁hole｜> <SUF> ▁<SUF> <|code_suffix|> <|suffix|>`},
		{"tokenizer.ggml.fim_mid_token_id", `<|fim_middle|> <fim-middle> <fim_middle> <｜fim▁end｜> <MID> ▁<MID> <|code_middle|> <|middle|>`},
		{"tokenizer.ggml.fim_pad_token_id", `<|fim_pad|> <fim-pad> <fim_pad> <PAD> [PAD]`},
		{"tokenizer.ggml.fim_rep_token_id", `<|fim_repo|> <|repo_name|> <fim-repo> <REPO> <reponame>`},
		{"tokenizer.ggml.fim_sep_token_id", `<|file_sep|>`},
	}
	userNames = []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}
)

// classify decides which tokens are matched in text before the model runs
// (llama.cpp's special-token cache: control, user-defined and unknown
// tokens) and which of them are special (skipped when decoding without
// special tokens: control and unknown).
func (v *vocab) classify(md map[string]any) {
	v.special = make([]bool, len(v.tokens))
	v.userDefined = make([]bool, len(v.tokens))
	for id, typ := range v.types {
		switch typ {
		case tokenControl, tokenUnknown:
			v.special[id] = true
		case tokenUserDefined:
			v.userDefined[id] = true
		}
	}
	names := slices.Clone(eogNames)
	for _, g := range namedControls {
		if _, set := md[g.key]; !set {
			names = append(names, strings.Fields(g.names)...)
		}
	}
	for _, name := range names {
		if id, ok := v.ids[name]; ok {
			v.special[id] = true
		}
	}
	for _, name := range userNames {
		if id, ok := v.ids[name]; ok {
			v.special[id], v.userDefined[id] = false, true
		}
	}
}

// tokenName returns the text of id, or nil for no token (JSON null).
func (v *vocab) tokenName(id int) any {
	if id < 0 {
		return nil
	}
	return v.tokens[id]
}
