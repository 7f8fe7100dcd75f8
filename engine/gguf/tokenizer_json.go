package gguf

import (
	"sort"
	"strings"
)

// tokenizerJSON returns the tokenizer.json document.
func (v *vocab) tokenizerJSON() map[string]any {
	doc := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil,
		"added_tokens":   v.addedTokens(),
		"post_processor": v.postProcessor(),
	}
	switch v.model {
	case "gpt2":
		doc["normalizer"] = nil
		doc["pre_tokenizer"] = v.bpePreTokenizer()
		doc["decoder"] = map[string]any{"type": "ByteLevel", "add_prefix_space": false,
			"trim_offsets": false, "use_regex": false}
		doc["model"] = v.bpeModel()
	default: // llama
		doc["normalizer"] = v.spmNormalizer()
		doc["pre_tokenizer"] = nil
		doc["decoder"] = v.spmDecoder()
		doc["model"] = v.spmModel()
	}
	return doc
}

// addedTokens lists the tokens matched in text before the model runs, as
// written (llama.cpp matches their raw text), special for control and
// unknown tokens.
func (v *vocab) addedTokens() []any {
	out := []any{}
	for id, tok := range v.tokens {
		if !v.special[id] && !v.userDefined[id] {
			continue
		}
		out = append(out, map[string]any{"id": id, "content": tok, "single_word": false,
			"lstrip": false, "rstrip": false, "normalized": false, "special": v.special[id]})
	}
	return out
}

// postProcessor adds BOS and EOS as llama_tokenize(add_special=true) does.
func (v *vocab) postProcessor() any {
	if !v.addBOS && !v.addEOS {
		return nil
	}
	single := []any{}
	specials := map[string]any{}
	add := func(id int) {
		tok := v.tokens[id]
		single = append(single, map[string]any{"SpecialToken": map[string]any{"id": tok, "type_id": 0}})
		specials[tok] = map[string]any{"id": tok, "ids": []int{id}, "tokens": []string{tok}}
	}
	if v.addBOS {
		add(v.bos)
	}
	single = append(single, map[string]any{"Sequence": map[string]any{"id": "A", "type_id": 0}})
	if v.addEOS {
		add(v.eos)
	}
	return map[string]any{"type": "TemplateProcessing", "single": single, "pair": single,
		"special_tokens": specials}
}

// tokenizerConfig returns tokenizer_config.json: the special tokens, whether
// BOS and EOS are added, and the chat templates (tokenizer.chat_template, and
// tokenizer.chat_template.NAME as named templates).
func (v *vocab) tokenizerConfig(md map[string]any) (map[string]any, error) {
	cfg := map[string]any{
		"tokenizer_class": "PreTrainedTokenizerFast",
		"bos_token":       v.tokenName(v.bos), "eos_token": v.tokenName(v.eos),
		"pad_token": v.tokenName(v.pad), "unk_token": v.tokenName(v.unk),
		"add_bos_token": v.addBOS, "add_eos_token": v.addEOS,
		"clean_up_tokenization_spaces": v.cleanSpaces,
	}
	tmpl, err := chatTemplates(md)
	if err != nil {
		return nil, err
	}
	if tmpl != nil {
		cfg["chat_template"] = tmpl
	}
	return cfg, nil
}

// chatTemplates returns the default template as a string, or a list of
// {name, template} when the metadata also has named ones; nil when none.
func chatTemplates(md map[string]any) (any, error) {
	const key = "tokenizer.chat_template"
	def, hasDef, err := metaString(md, key)
	if err != nil {
		return nil, err
	}
	var names []string
	for k := range md {
		if strings.HasPrefix(k, key+".") {
			names = append(names, strings.TrimPrefix(k, key+"."))
		}
	}
	if len(names) == 0 {
		if !hasDef {
			return nil, nil
		}
		return def, nil
	}
	sort.Strings(names)
	var list []any
	if hasDef {
		list = append(list, map[string]any{"name": "default", "template": def})
	}
	for _, name := range names {
		src, _, err := metaString(md, key+"."+name)
		if err != nil {
			return nil, err
		}
		list = append(list, map[string]any{"name": name, "template": src})
	}
	return list, nil
}
