#!/usr/bin/env python3
"""Build tiny random-weight reference models with Hugging Face transformers.

Each fixture is one folder in the layout of ../shared/fixtures/README.md:

    config.json, generation_config.json   written by transformers
    model.safetensors                     the random weights
    tokenizer.json, tokenizer_config.json a byte-level BPE over the 256 bytes
    reference.safetensors                 input_ids_{0,1,2} (int32 [1], [5], [23]),
                                          logits_{0,1,2} (float32 [n, vocab], one
                                          forward pass, no cache), greedy_prompt
                                          (int32 [11]) and greedy_tokens (int32 [20],
                                          token by token through the model's own KV
                                          cache)

The reference is computed on CPU in float32 with eager attention, so the project
is checked against code nobody on the team wrote. Weights are drawn with std 0.2
(as the shared fixtures are), sharp enough that a wrong rope, norm, mask, head
layout or scale shows up.

Usage (torch and transformers needed; the lent NVIDIA machine has both):

    python3 engine/arch/testdata/gen_fixtures.py --out engine/arch/testdata/models gemma3_text_h48
    python3 engine/arch/testdata/gen_fixtures.py --list

To add an architecture (issue 14), write gen_<arch>.py beside this file with a
FIXTURES dict mapping each fixture's folder name to a function(dtype) that
returns (model, config); it is picked up here, with VOCAB and STD set in the
module before it runs. Give each fixture
shapes the shared ones lack (head counts, GQA ratio, hidden sizes that are no
power of four, sliding windows the 23-token prompt crosses, layer patterns),
and keep model.safetensors small (the whole folder well under 1 MB).
"""

import argparse
import json
import os
import sys

VOCAB = 384
PROMPT_LENGTHS = (1, 5, 23)
GREEDY_PROMPT, GREEDY_NEW = 11, 20
STD = 0.2


def gemma3_text_h48(dtype):
    """Gemma 3 text, hidden 48 (√48 = 6.9282 has no exact bfloat16: mlx-lm's
    6.9375 is 0.13% off), 3 query heads over 1 KV head, head_dim 16 ≠
    hidden/heads, window 6 so every prompt but the first crosses it, and a
    global layer between two sliding ones (its own rope base), and an untied
    head (a tied Gemma head mostly repeats the input token, so greedy decoding
    would tell little)."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(
        vocab_size=VOCAB,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=3,
        num_key_value_heads=1,
        head_dim=16,
        query_pre_attn_scalar=16,
        sliding_window=6,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=False,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return Gemma3ForCausalLM(cfg), cfg


def qwen3_moe_h96(dtype):
    """Qwen3 MoE, hidden 96: 4 experts (top-2, normalized) of width 16 in
    every layer, 3 query heads over 1 KV head of head_dim 32, tied embeddings.
    96 is a multiple of 32 but not of 64, the group size mlx-lm gives the
    8-bit router gate: a converter must leave that gate in float."""
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

    cfg = Qwen3MoeConfig(
        vocab_size=VOCAB,
        hidden_size=96,
        intermediate_size=128,
        moe_intermediate_size=16,
        num_hidden_layers=2,
        num_attention_heads=3,
        num_key_value_heads=1,
        head_dim=32,
        num_experts=4,
        num_experts_per_tok=2,
        norm_topk_prob=True,
        decoder_sparse_step=1,
        mlp_only_layers=[],
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
        attn_implementation="eager",
    )
    return Qwen3MoeForCausalLM(cfg), cfg


FIXTURES = {
    "gemma3_text_h48": gemma3_text_h48,
    "qwen3_moe_h96": qwen3_moe_h96,
}


def _load_modules():
    """Add the fixtures of every gen_<name>.py beside this file: each defines
    its own FIXTURES dict of folder name -> function(dtype) -> (model, config),
    so an architecture's generator lives in its own file."""
    import importlib.util
    import glob

    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "gen_*.py"))):
        if os.path.basename(path) == "gen_fixtures.py":
            continue
        spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
        mod = importlib.util.module_from_spec(spec)
        mod.VOCAB, mod.STD = VOCAB, STD  # the shared constants, before the module runs
        spec.loader.exec_module(mod)
        for name, fn in getattr(mod, "FIXTURES", {}).items():
            if name in FIXTURES:
                sys.exit(f"{path}: fixture {name} is defined twice")
            FIXTURES[name] = fn


_load_modules()


def byte_tokenizer(out):
    """Write a byte-level BPE tokenizer (256 byte tokens after three specials,
    no merges) and its config: enough for the folder to load as a model."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel

    specials = ["<pad>", "<eos>", "<bos>"]
    alphabet = ByteLevel.alphabet()
    alphabet.sort()
    vocab = {s: i for i, s in enumerate(specials)}
    for ch in alphabet:
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
                   "add_bos_token": True, "model_max_length": 256,
                   "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=2)


def reference(model, vocab, gen):
    import torch

    tensors = {}
    with torch.no_grad():
        for i, n in enumerate(PROMPT_LENGTHS):
            ids = torch.randint(3, vocab, (n,), generator=gen)
            logits = model(ids[None], use_cache=False).logits[0]
            tensors[f"input_ids_{i}"] = ids.to(torch.int32)
            tensors[f"logits_{i}"] = logits.float().contiguous()
        prompt = torch.randint(3, vocab, (GREEDY_PROMPT,), generator=gen)
        out = model(prompt[None], use_cache=True)
        cache, tokens = out.past_key_values, []
        nxt = out.logits[0, -1].argmax()
        for _ in range(GREEDY_NEW):
            tokens.append(int(nxt))
            out = model(nxt.view(1, 1), past_key_values=cache, use_cache=True)
            cache, nxt = out.past_key_values, out.logits[0, -1].argmax()
        tensors["greedy_prompt"] = prompt.to(torch.int32)
        tensors["greedy_tokens"] = torch.tensor(tokens, dtype=torch.int32)
        if len(set(tokens)) < 4:
            print(f"warning: greedy tokens {tokens} repeat: a weak check", file=sys.stderr)
    return tensors


def build(name, out_root, seed, dtype_name):
    import torch
    import transformers
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    dtype = getattr(torch, dtype_name)
    model, _ = FIXTURES[name](dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, STD)
    model = model.to(dtype).eval()
    # MoE experts by the per-expert loop, the reference implementation:
    # torch's grouped_mm wants 16-byte strides, which bfloat16 rows of the
    # small hidden sizes here (60 x 2 bytes) do not have.
    if hasattr(model, "set_experts_implementation"):
        try:
            model.set_experts_implementation("eager")
        except (ValueError, AttributeError) as e:
            print(f"{name}: experts implementation left as is ({e})", file=sys.stderr)
    out = os.path.join(out_root, name if dtype_name == "float32" else f"{name}_{dtype_name}")
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    byte_tokenizer(out)
    gen = torch.Generator().manual_seed(seed + 1)
    tensors = reference(model, model.config.vocab_size, gen)
    meta = {
        "generator": f"transformers {transformers.__version__}, torch {torch.__version__}",
        "note": f"{dtype_name} eager attention on CPU; logits_i are for input_ids_i at every position",
        "script": "engine/arch/testdata/gen_fixtures.py",
        "seed": str(seed),
    }
    save_file(tensors, os.path.join(out, "reference.safetensors"), metadata=meta)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="fixtures to build (default: all)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                    help="weights and reference dtype (folders of other dtypes get a suffix)")
    ap.add_argument("--list", action="store_true", help="list the fixtures and exit")
    args = ap.parse_args()
    if args.list:
        for n, f in FIXTURES.items():
            print(f"{n}: {((f.__doc__ or '').splitlines() or [''])[0]}")
        return
    names = args.names or list(FIXTURES)
    unknown = [n for n in names if n not in FIXTURES]
    if unknown:
        sys.exit(f"unknown fixtures {unknown}; known: {sorted(FIXTURES)}")
    import torch
    torch.set_num_threads(1)
    for n in names:
        out = build(n, args.out, args.seed, args.dtype)
        size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
        print(f"{out}: {size} bytes")


if __name__ == "__main__":
    main()
