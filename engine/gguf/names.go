package gguf

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// family is one general.architecture LMX imports: the model_type it becomes
// and how llama.cpp's converter (convert_hf_to_gguf.py) changed the
// Hugging Face tensors on the way in, which Import undoes.
type family struct {
	modelType    string
	architecture string // config.json "architectures"
	// blocks maps a GGUF block tensor ("attn_q", without "blk.N." and the
	// ".weight"/".bias" suffix) to its module under model.layers.N
	// (gguf-py's tensor_mapping.py, read backwards).
	blocks map[string]string
	// permuteQK: LlamaModel.permute interleaved the rows of each Q and K
	// head (weights and biases) for llama.cpp's GPT-J style rope.
	permuteQK bool
	// normShift: Gemma3Model stores every *norm.weight as w + 1.
	normShift bool
}

// llamaBlocks are the per-layer tensors of the Llama layout.
var llamaBlocks = map[string]string{
	"attn_norm": "input_layernorm",
	"attn_q":    "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
	"attn_output": "self_attn.o_proj",
	"ffn_norm":    "post_attention_layernorm",
	"ffn_gate":    "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}

// families are the architectures Import supports; "llama" also covers
// Mistral and SmolLM2 GGUFs (their converter writes llama).
var families = map[string]family{
	"llama": {modelType: "llama", architecture: "LlamaForCausalLM", blocks: llamaBlocks, permuteQK: true},
	"qwen2": {modelType: "qwen2", architecture: "Qwen2ForCausalLM", blocks: llamaBlocks},
	"qwen3": {modelType: "qwen3", architecture: "Qwen3ForCausalLM", blocks: with(llamaBlocks, map[string]string{
		"attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
	})},
	"gemma3": {modelType: "gemma3_text", architecture: "Gemma3ForCausalLM", normShift: true, blocks: with(llamaBlocks, map[string]string{
		"attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
		"post_attention_norm": "post_attention_layernorm",
		"ffn_norm":            "pre_feedforward_layernorm",
		"post_ffw_norm":       "post_feedforward_layernorm",
	})},
	"phi3": {modelType: "phi3", architecture: "Phi3ForCausalLM", blocks: map[string]string{
		"attn_norm": "input_layernorm", "attn_qkv": "self_attn.qkv_proj", "attn_output": "self_attn.o_proj",
		"ffn_norm": "post_attention_layernorm", "ffn_up": "mlp.gate_up_proj", "ffn_down": "mlp.down_proj",
	}},
}

// globals are the tensors outside the blocks, by GGUF name stem.
var globals = map[string]string{"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}

// ropeTensors are the GGUF tensors that hold rope settings rather than
// weights; the config takes them in.
var ropeTensors = map[string][]string{
	"llama": {"rope_freqs.weight"},
	"phi3":  {"rope_factors_long.weight", "rope_factors_short.weight"},
}

// with returns base with extra entries added or replaced.
func with(base, extra map[string]string) map[string]string {
	m := maps.Clone(base)
	maps.Copy(m, extra)
	return m
}

// lookupFamily returns the family of general.architecture.
func lookupFamily(f *File) (string, family, error) {
	name, _ := f.Metadata["general.architecture"].(string)
	fam, ok := families[name]
	if !ok {
		return "", family{}, fmt.Errorf("%s: %w: architecture %q (supported: %s)",
			f.Path, ErrUnsupported, name, strings.Join(slices.Sorted(maps.Keys(families)), ", "))
	}
	return name, fam, nil
}

// mapped is one GGUF tensor's place in the Hugging Face layout.
type mapped struct {
	name   string // e.g. "model.layers.3.self_attn.q_proj.weight"
	module string // the quantizable module ("model.layers.3.self_attn.q_proj"); "" for norms and biases
	stem   string // GGUF stem ("attn_q"), for the family's transforms
}

// hfName maps a GGUF tensor name to the Hugging Face one, or reports that
// the family has no such tensor.
func (fam family) hfName(name string, layers int) (mapped, bool) {
	base, suffix, ok := cutSuffix(name)
	if !ok {
		return mapped{}, false
	}
	if hf, ok := globals[base]; ok {
		return newMapped(hf, suffix, base, base != "output_norm"), true
	}
	rest, ok := strings.CutPrefix(base, "blk.")
	if !ok {
		return mapped{}, false
	}
	idx, stem, ok := strings.Cut(rest, ".")
	n, err := strconv.Atoi(idx)
	if !ok || err != nil || n < 0 || n >= layers || strconv.Itoa(n) != idx {
		return mapped{}, false
	}
	hf, ok := fam.blocks[stem]
	if !ok {
		return mapped{}, false
	}
	return newMapped(fmt.Sprintf("model.layers.%d.%s", n, hf), suffix, stem, !strings.HasSuffix(stem, "norm")), true
}

// newMapped builds the mapping of module.suffix; linear marks weights of
// Linear and Embedding modules, which MLX can quantize.
func newMapped(module, suffix, stem string, linear bool) mapped {
	m := mapped{name: module + suffix, stem: stem}
	if linear && suffix == ".weight" {
		m.module = module
	}
	return m
}

// cutSuffix splits ".weight" or ".bias" off a tensor name.
func cutSuffix(name string) (string, string, bool) {
	for _, s := range []string{".weight", ".bias"} {
		if base, ok := strings.CutSuffix(name, s); ok {
			return base, s, true
		}
	}
	return "", "", false
}

// unpermuteRows undoes LlamaModel.permute on the rows of data (weights,
// biases, or anything with one row per output feature): permute moved row
// h·hd + i·hd/2 + j of each head h to h·hd + 2j + i. Whole rows move, so
// the rows may hold quantized blocks.
func unpermuteRows(data []byte, rows, heads int) ([]byte, error) {
	if heads <= 0 || rows%(2*heads) != 0 {
		return nil, fmt.Errorf("cannot undo llama.cpp's Q/K permutation: %d rows over %d heads", rows, heads)
	}
	if len(data)%rows != 0 {
		return nil, fmt.Errorf("cannot undo llama.cpp's Q/K permutation: %d bytes over %d rows", len(data), rows)
	}
	hd, rb := rows/heads, len(data)/rows
	out := make([]byte, len(data))
	for r := range rows {
		h, i, j := r/hd, (r%hd)/(hd/2), r%(hd/2)
		src := h*hd + 2*j + i
		copy(out[r*rb:(r+1)*rb], data[src*rb:(src+1)*rb])
	}
	return out, nil
}
