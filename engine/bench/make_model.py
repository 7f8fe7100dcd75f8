"""Write a random-weight model folder with real dimensions, exactly as mlx-lm writes one.

Usage:
    python engine/bench/make_model.py --config qwen3-0.6b --out DIR \
        [--bits 4 --group-size 64] [--dtype bfloat16] [--seed 0] [--tokenizer DIR]

The model class comes from mlx_lm (the same lookup ``mlx_lm.utils.load_model``
uses), every matrix is drawn from a seeded normal distribution (std 0.02),
1-D parameters keep the module's own initialisation (norm weights at identity)
except biases, which are zero. With ``--bits`` the model is quantized by
``mlx_lm.utils.quantize_model`` (affine mode) and saved by
``mlx_lm.utils.save_model`` / ``save_config``, so the folder holds
``config.json`` (with the ``quantization`` block), ``model.safetensors`` and
``model.safetensors.index.json``, plus ``generation_config.json`` and the
tokenizer files copied from ``--tokenizer``.

Shapes live in CONFIGS: adding an architecture is one entry.
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.utils import _get_classes, quantize_model, save_config, save_model

QWEN3_0_6B = {
    "architectures": ["Qwen3ForCausalLM"],
    "model_type": "qwen3",
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151936,
    "tie_word_embeddings": True,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 40960,
    "hidden_act": "silu",
    "attention_bias": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}

QWEN3_GENERATION = {
    "bos_token_id": 151643,
    "eos_token_id": [151645, 151643],
    "pad_token_id": 151643,
}

LLAMA_1B = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 2048,
    "intermediate_size": 8192,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 64,
    "vocab_size": 128256,
    "tie_word_embeddings": True,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 32.0,
        "high_freq_factor": 4.0,
        "low_freq_factor": 1.0,
        "original_max_position_embeddings": 8192,
    },
    "rms_norm_eps": 1e-5,
    "max_position_embeddings": 131072,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
}

LLAMA3_GENERATION = {
    "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009],
}

# SmolLM2-135M's body (a llama) with the Llama 3 vocabulary and special ids,
# since the fixtures hold the Llama 3.1 tokenizer but not SmolLM2's: a real
# small shape for CPU runs in float32 (about 180M parameters, 0.7 GB).
SMOLLM2_135M = {
    **LLAMA_1B,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "rope_theta": 100000.0,
    "max_position_embeddings": 8192,
}
del SMOLLM2_135M["rope_scaling"]

# CONFIGS maps a --config name to (config.json fields, generation_config.json).
CONFIGS = {
    "qwen3-0.6b": (QWEN3_0_6B, QWEN3_GENERATION),
    "llama-1b": (LLAMA_1B, LLAMA3_GENERATION),
    # Qwen3-4B's shape (hidden 2560, 36 layers, 32/8 heads, head_dim 128,
    # intermediate 9728, tied embeddings).
    "qwen3-4b": (
        {
            **QWEN3_0_6B,
            "hidden_size": 2560,
            "intermediate_size": 9728,
            "num_hidden_layers": 36,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
        },
        QWEN3_GENERATION,
    ),
    "smollm2-135m": (SMOLLM2_135M, LLAMA3_GENERATION),
    # Qwen3 layout (per-head q/k norms, head_dim != hidden/heads) with the real
    # Qwen3 vocabulary, small enough for tests.
    "tiny-qwen3": (
        {
            **QWEN3_0_6B,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 32,
            "max_position_embeddings": 4096,
        },
        QWEN3_GENERATION,
    ),
}

TOKENIZER_FILES = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "chat_template.jinja",
]

INIT_STD = 0.02


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, choices=sorted(CONFIGS))
    p.add_argument("--out", required=True, help="folder to create (must not exist)")
    p.add_argument("--bits", type=int, help="quantize to this many bits (affine)")
    p.add_argument("--group-size", type=int, default=64)
    p.add_argument(
        "--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"]
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokenizer", help="folder with tokenizer.json to copy")
    return p.parse_args(argv)


def build_model(config, dtype, seed):
    """Instantiate the mlx_lm model class and fill it with seeded random weights."""
    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    mx.random.seed(seed)
    params = []
    for name, value in tree_flatten(model.parameters()):
        params.append((name, init_param(name, value, dtype)))
        mx.eval(params[-1][1])
    model.update(tree_unflatten(params))
    return model


def init_param(name, value, dtype):
    """Normal(0, INIT_STD) for matrices, zero biases, module defaults otherwise."""
    if value.ndim >= 2:
        return mx.random.normal(value.shape, dtype=mx.float32, scale=INIT_STD).astype(
            dtype
        )
    if name.endswith(".bias"):
        return mx.zeros(value.shape, dtype=dtype)
    return value.astype(dtype)


def check_tokenizer(src, vocab_size):
    """Fail before any work when the tokenizer is missing or does not fit."""
    src = Path(src)
    if not (src / "tokenizer.json").is_file():
        raise SystemExit(f"make_model: no tokenizer.json in {src}")
    tok = json.loads((src / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]  # a map for BPE, a list for Unigram
    ids = list(vocab.values() if isinstance(vocab, dict) else range(len(vocab)))
    ids += [a["id"] for a in tok["added_tokens"]]
    if max(ids) >= vocab_size:
        raise SystemExit(
            f"make_model: tokenizer id {max(ids)} does not fit vocab_size {vocab_size}"
        )


def copy_tokenizer(src, out):
    """Copy the tokenizer files that exist in src."""
    for name in TOKENIZER_FILES:
        if (Path(src) / name).is_file():
            shutil.copyfile(Path(src) / name, out / name)


def folder_bytes(out):
    """Total size of the files in out."""
    return sum(f.stat().st_size for f in out.iterdir() if f.is_file())


def main(argv):
    args = parse_args(argv)
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"make_model: {out} already exists")
    fields, generation = CONFIGS[args.config]
    config = {**fields, "torch_dtype": args.dtype}
    if args.tokenizer:
        check_tokenizer(args.tokenizer, config["vocab_size"])
    start = time.perf_counter()
    model = build_model(config, getattr(mx, args.dtype), args.seed)
    if args.bits:
        model, config = quantize_model(
            model, config, args.group_size, args.bits, mode="affine"
        )
        mx.eval(model.parameters())
    out.mkdir(parents=True)
    save_model(out, model, donate_model=True)
    save_config(config, config_path=out / "config.json")
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2))
    if args.tokenizer:
        copy_tokenizer(args.tokenizer, out)
    seconds = time.perf_counter() - start
    size = folder_bytes(out)
    print(f"wrote {out}: {size / 2**20:.1f} MiB in {seconds:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
