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
"""

import argparse
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
    model, _ = load_model(Path(args.model))
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
