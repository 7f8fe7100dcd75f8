"""Write mlx_lm's reference logits (and greedy continuations) for a model folder.

Usage:
    python engine/bench/mlx_lm_logits.py --model DIR --ids 1,2,3 [--ids 4,5 ...] \
        [--greedy N] --out FILE.safetensors

The folder (float or quantized) is loaded by ``mlx_lm.utils.load_model``.
For the i-th ``--ids`` list the output file holds:

    input_ids_<i>  int32   [n]         the ids as given
    logits_<i>     float32 [n, vocab]  logits at every position, one forward
                                       pass over the whole list, no cache
    greedy_<i>     int32   [N]         with --greedy N: N tokens generated
                                       after the list by argmax through
                                       mlx_lm's KV cache (generate_step);
                                       EOS does not stop it

Engine tests compare LMX's outputs on the same folder with these.

A text-only Qwen3.5 folder (model_type qwen3_5_text / qwen3_5_moe_text, as
transformers writes Qwen3_5ForCausalLM / Qwen3_5MoeForCausalLM) is loaded as
qwen3_5 / qwen3_5_moe, the names mlx_lm knows them by: its model there reads
a config without text_config as the text model's.

On MLX's CPU backend, whose gather_mm takes float32 only, a half-precision
gather_mm (an unquantized MoE folder) is computed in float32 and rounded
back, as LMX's metal.GatherMM does there; other backends are untouched.
"""

import argparse
import json
import sys
from pathlib import Path

import mlx.core as mx
from mlx_lm.generate import generate_step
from mlx_lm.utils import load_model


def parse_ids(text):
    try:
        ids = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated id list: {text!r}")
    if not ids:
        raise argparse.ArgumentTypeError("empty id list")
    return ids


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--ids", type=parse_ids, action="append", required=True)
    p.add_argument("--greedy", type=int, default=0, help="tokens to generate")
    p.add_argument("--out", required=True, help="safetensors file to write")
    return p.parse_args(argv)


def gather_mm_in_float32_on_cpu():
    """Make mx.gather_mm multiply half-precision inputs in float32 on the CPU."""
    if mx.default_device() != mx.cpu:
        return
    native = mx.gather_mm

    def gather_mm(a, b, *args, **kwargs):
        if a.dtype == mx.float32 and b.dtype == mx.float32:
            return native(a, b, *args, **kwargs)
        out = native(a.astype(mx.float32), b.astype(mx.float32), *args, **kwargs)
        return out.astype(a.dtype) if a.dtype == b.dtype else out

    mx.gather_mm = gather_mm


# Text-only model types mlx_lm knows by their wrapper's name (the Go tests
# hold the same table: internal/testutil.MLXLMTypes).
WRAPPER_TYPES = {"qwen3_5_text": "qwen3_5", "qwen3_5_moe_text": "qwen3_5_moe"}


def load(path):
    """mlx_lm's load_model, a text-only type read as its wrapper's."""
    config = json.loads((path / "config.json").read_text())
    override = None
    if config.get("model_type") in WRAPPER_TYPES:
        override = {"model_type": WRAPPER_TYPES[config["model_type"]]}
    model, _ = load_model(path, model_config=override)
    return model


def logits_of(model, ids):
    """Float32 logits [n, vocab] of one cacheless forward pass."""
    logits = model(mx.array(ids)[None])
    return logits[0].astype(mx.float32)


def greedy(model, ids, n):
    """N argmax tokens after ids, through mlx_lm's own generation loop."""
    tokens = [t for t, _ in generate_step(mx.array(ids), model, max_tokens=n)]
    return mx.array(tokens, dtype=mx.int32)


def main(argv):
    args = parse_args(argv)
    gather_mm_in_float32_on_cpu()
    model = load(Path(args.model))
    out = {}
    for i, ids in enumerate(args.ids):
        out[f"input_ids_{i}"] = mx.array(ids, dtype=mx.int32)
        out[f"logits_{i}"] = logits_of(model, ids)
        mx.eval(out[f"logits_{i}"])
        if args.greedy > 0:
            out[f"greedy_{i}"] = greedy(model, ids, args.greedy)
    mx.save_safetensors(args.out, out, metadata={"model": str(args.model)})
    print(f"wrote {args.out}: {len(args.ids)} id lists")


if __name__ == "__main__":
    main(sys.argv[1:])
