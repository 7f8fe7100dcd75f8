"""Writes a GGUF of a shared fixture model (a Hugging Face folder) the way
llama.cpp's convert_hf_to_gguf.py lays one out, with gguf-py's GGUFWriter and
tensor name map: the architecture's metadata keys, LlamaModel.permute on the
Q/K rows of llama models, Gemma 3's norms stored as w + 1, the rope_freqs
tensor of Llama 3 rope scaling, and a small SentencePiece vocabulary.

Usage: fixture_gguf.py MODEL_DIR OUT.gguf TYPES

TYPES is the type of the 2-D weights, then optional overrides for tensors
whose GGUF name has a stem as one of its dot-separated parts:
"Q4_0,token_embd=Q8_0,ffn_down=IQ4_NL".
1-D tensors stay F32 as the converter keeps them. A type gguf-py cannot
quantize (IQ4_NL) gets random blocks.
"""
import json
import math
import struct
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q

ARCH = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
        "gemma3_text": "gemma3", "phi3": "phi3"}


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", info
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + start:8 + n + end], dtype=np.float32).reshape(info["shape"])
    return out


def permute(w, n_head, n_head_kv):
    """LlamaModel.permute of convert_hf_to_gguf.py."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rope_params(cfg):
    rope = cfg.get("rope_parameters") or {"rope_theta": cfg.get("rope_theta", 10000.0)}
    return rope.get("full_attention", rope)


def llama3_factors(cfg, rope):
    """LlamaModel.generate_extra_tensors."""
    base = rope["rope_theta"]
    dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            out.append(1)
        elif wavelen > old / low:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def add_params(w, cfg, arch):
    hidden, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or hidden // heads
    rope = rope_params(cfg)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(hidden)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(cfg.get("num_key_value_heads", heads))
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_rope_freq_base(rope["rope_theta"])
    if "head_dim" in cfg:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if arch == "llama":
        w.add_vocab_size(cfg["vocab_size"])
        w.add_rope_dimension_count(head_dim)
    if arch == "gemma3":
        w.add_sliding_window(cfg["sliding_window"])
    if arch == "phi3":
        w.add_rope_dimension_count(int(rope.get("partial_rotary_factor", 1.0) * hidden) // heads)
        w.add_rope_scaling_orig_ctx_len(cfg["original_max_position_embeddings"])
        w.add_sliding_window(0)


def add_vocab(w, cfg):
    """<unk> <s> </s>, the 256 byte tokens, then words to fill the vocabulary."""
    n = cfg["vocab_size"]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"\u2581w{i}" for i in range(n - len(tokens))]
    types = [2, 3, 3] + [6] * 256 + [1] * (n - 259)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * 259 + [-float(i) for i in range(n - 259)])
    w.add_token_types(types)
    w.add_bos_token_id(cfg.get("bos_token_id") if cfg.get("bos_token_id") is not None else 1)
    w.add_eos_token_id(cfg.get("eos_token_id") if isinstance(cfg.get("eos_token_id"), int) else 2)


def tensor_type(gguf_name, arr, types):
    default, overrides = types
    if arr.ndim != 2:
        return Q.F32
    for stem, t in overrides.items():
        if stem in gguf_name.split("."):
            return t
    return default


def encode(arr, qtype, rng):
    if qtype == Q.F32:
        return arr.astype(np.float32), None
    if qtype == Q.F16:
        return arr.astype(np.float16), None
    if qtype == Q.IQ4_NL:
        blocks = rng.integers(0, 256, (arr.size // 32, 18), dtype=np.uint8)
        blocks[:, :2] = (rng.standard_normal(arr.size // 32) * 0.01).astype(np.float16).view(np.uint8).reshape(-1, 2)
        return blocks.reshape(arr.shape[0], -1), qtype
    return gguf.quants.quantize(arr, qtype), qtype


def main():
    model_dir, out, spec = sys.argv[1:4]
    parts = spec.split(",")
    types = (Q[parts[0]], {p.split("=")[0]: Q[p.split("=")[1]] for p in parts[1:]})
    cfg = json.load(open(f"{model_dir}/config.json"))
    arch = ARCH[cfg["model_type"]]
    enum = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}[arch]
    n_layers, n_head = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    tmap = gguf.get_tensor_name_map(enum, n_layers)
    w = gguf.GGUFWriter(out, arch)
    add_params(w, cfg, arch)
    add_vocab(w, cfg)
    rng = np.random.default_rng(3)
    rope = rope_params(cfg)
    if arch == "llama" and rope.get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_factors(cfg, rope))
    for name, arr in sorted(read_safetensors(f"{model_dir}/model.safetensors").items()):
        if arch == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
            arr = permute(arr, n_head, n_head)
        if arch == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
            arr = permute(arr, n_head, n_kv)
        if arch == "gemma3" and name.endswith("norm.weight"):
            arr = arr + 1
        new = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        assert new is not None, name
        data, raw = encode(np.ascontiguousarray(arr), tensor_type(new, arr, types), rng)
        w.add_tensor(new, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
