package gguf

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// meta reads typed values from a file's metadata; errors name the file and
// the key.
type meta struct {
	f    *File
	arch string // general.architecture, the prefix of the model keys
}

// key is the model key {arch}.name.
func (m meta) key(name string) string { return m.arch + "." + name }

// int returns an integer value (or one per layer, all equal); ok is false
// when the key is absent.
func (m meta) int(key string) (v int, ok bool, err error) {
	raw, ok := m.f.Metadata[key]
	if !ok {
		return 0, false, nil
	}
	switch x := raw.(type) {
	case int64:
		return int(x), true, m.checkInt(key, x)
	case []int64:
		if len(x) == 0 || slices.Min(x) != slices.Max(x) {
			return 0, true, fmt.Errorf("%s: %w: metadata %q varies per layer (%v)", m.f.Path, ErrUnsupported, key, x)
		}
		return int(x[0]), true, m.checkInt(key, x[0])
	}
	return 0, true, fmt.Errorf("%s: %w: metadata %q is %T, want an integer", m.f.Path, ErrCorrupt, key, raw)
}

// checkInt refuses negative sizes and ones beyond int32 (no model has them).
func (m meta) checkInt(key string, v int64) error {
	if v < 0 || v > math.MaxInt32 {
		return fmt.Errorf("%s: %w: metadata %q holds %d", m.f.Path, ErrCorrupt, key, v)
	}
	return nil
}

// need returns a required positive integer.
func (m meta) need(key string) (int, error) {
	v, ok, err := m.int(key)
	if err == nil && !ok {
		err = fmt.Errorf("%s: %w: metadata %q is missing", m.f.Path, ErrCorrupt, key)
	}
	if err == nil && v <= 0 {
		err = fmt.Errorf("%s: %w: metadata %q is %d, want a positive size", m.f.Path, ErrCorrupt, key, v)
	}
	return v, err
}

// float returns a float value (def when absent), rounded to the shortest
// decimal of its float32 when it is one (GGUF stores most floats as
// float32: 1e-5 is written 9.99999974e-06).
func (m meta) float(key string, def float64) (float64, error) {
	raw, ok := m.f.Metadata[key]
	if !ok {
		return def, nil
	}
	v, isFloat := raw.(float64)
	if !isFloat || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%s: %w: metadata %q is %v, want a finite float", m.f.Path, ErrCorrupt, key, raw)
	}
	if float64(float32(v)) == v {
		v = shortest32(float32(v))
	}
	return v, nil
}

// shortest32 is the float64 of v's shortest float32 decimal, so JSON shows
// 1e-05 rather than 9.999999747378752e-06.
func shortest32(v float32) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
	return f
}

// str returns a string value ("" when absent).
func (m meta) str(key string) string {
	s, _ := m.f.Metadata[key].(string)
	return s
}

// hparams are the sizes every family shares.
type hparams struct {
	layers, hidden, ff, heads, kvHeads, headDim, ropeDims, ctx int
	eps, theta                                                 float64
}

// readHParams reads the shared sizes; key_length is the head size when
// present (converters write head_dim there), else hidden / heads.
func readHParams(m meta) (*hparams, error) {
	h := &hparams{}
	var err error
	for _, f := range []struct {
		dst *int
		key string
	}{{&h.layers, "block_count"}, {&h.hidden, "embedding_length"}, {&h.ff, "feed_forward_length"},
		{&h.heads, "attention.head_count"}, {&h.ctx, "context_length"}} {
		if *f.dst, err = m.need(m.key(f.key)); err != nil {
			return nil, err
		}
	}
	if err := h.readHeads(m); err != nil {
		return nil, err
	}
	if h.eps, err = m.float(m.key("attention.layer_norm_rms_epsilon"), 1e-6); err != nil {
		return nil, err
	}
	// llama.cpp's default base when a converter wrote none.
	h.theta, err = m.float(m.key("rope.freq_base"), 10000)
	return h, err
}

// readHeads reads the KV heads, the head size and the rotary dimensions.
func (h *hparams) readHeads(m meta) error {
	var ok bool
	var err error
	if h.kvHeads, ok, err = m.int(m.key("attention.head_count_kv")); err != nil {
		return err
	} else if !ok || h.kvHeads == 0 {
		h.kvHeads = h.heads
	}
	h.headDim = h.hidden / h.heads
	if k, ok, err := m.int(m.key("attention.key_length")); err != nil {
		return err
	} else if ok && k > 0 {
		h.headDim = k
	}
	if v, ok, err := m.int(m.key("attention.value_length")); err != nil {
		return err
	} else if ok && v != h.headDim {
		return fmt.Errorf("%s: %w: value_length %d differs from key_length %d", m.f.Path, ErrUnsupported, v, h.headDim)
	}
	h.ropeDims = h.headDim
	if r, ok, err := m.int(m.key("rope.dimension_count")); err != nil {
		return err
	} else if ok && r > 0 {
		h.ropeDims = r
	}
	return nil
}

// baseConfig is config.json's shared part, with the transformers 4 field
// names engine/convert writes.
func baseConfig(fam family, h *hparams, vocab int, tie bool, dtype string) map[string]any {
	return map[string]any{
		"model_type": fam.modelType, "architectures": []string{fam.architecture},
		"hidden_size": h.hidden, "intermediate_size": h.ff, "num_hidden_layers": h.layers,
		"num_attention_heads": h.heads, "num_key_value_heads": h.kvHeads, "head_dim": h.headDim,
		"rms_norm_eps": h.eps, "rope_theta": h.theta, "max_position_embeddings": h.ctx,
		"vocab_size": vocab, "tie_word_embeddings": tie, "torch_dtype": dtype,
	}
}

// tokenIDs reads the special token ids into config.json and
// generation_config.json: bos, and as EOS ids (eos first, the one
// config.json names) every token llama.cpp ends generation at.
func tokenIDs(m meta, cfg, gen map[string]any) error {
	if bos, ok, err := m.int("tokenizer.ggml.bos_token_id"); err != nil {
		return err
	} else if ok {
		cfg["bos_token_id"], gen["bos_token_id"] = bos, bos
	}
	eos, err := eogIDs(m)
	if err != nil {
		return err
	}
	switch len(eos) {
	case 0:
	case 1:
		cfg["eos_token_id"], gen["eos_token_id"] = eos[0], eos[0]
	default:
		cfg["eos_token_id"], gen["eos_token_id"] = eos[0], eos
	}
	return nil
}

// eogIDs are llama.cpp's end-of-generation tokens (llama_vocab_is_eog): the
// eos, eot and eom ids and the FIM pad, repo and separator ids the
// metadata names, the FIM tokens it does not name found by their text, and
// every token whose text is an end-of-generation text (eogNames). Gemma
// GGUFs name no eot token: llama.cpp stops at <end_of_turn> by its text.
func eogIDs(m meta) ([]int, error) {
	var ids []int
	add := func(id int) {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	fim := []string{"tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id", "tokenizer.ggml.fim_sep_token_id"}
	for _, key := range append([]string{"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
		"tokenizer.ggml.eom_token_id"}, fim...) {
		id, ok, err := m.int(key)
		if err != nil {
			return nil, err
		}
		if ok {
			add(id)
		}
	}
	texts := map[string]bool{}
	for _, name := range eogNames {
		texts[name] = true
	}
	for _, g := range namedControls {
		if _, named := m.f.Metadata[g.key]; !named && slices.Contains(fim, g.key) {
			for _, name := range strings.Fields(g.names) {
				texts[name] = true
			}
		}
	}
	tokens, _ := m.f.Metadata["tokenizer.ggml.tokens"].([]string)
	for id, tok := range tokens {
		if texts[tok] {
			add(id)
		}
	}
	return ids, nil
}
