"""Measure mlx_lm's BatchGenerator aggregate throughput at several batch sizes.

Usage:
    python engine/bench/mlx_lm_batch.py --model DIR [--streams 1,4,8,16] \
        [--prompt-tokens 128] [--gen-tokens 64] [--runs 10] [--warmup 1] [--json] [--json-out FILE]

The in-process baseline beside ``lmx bench serve``'s "N streams: aggregate"
figure: the same workload without HTTP, so the server's own overhead shows.

Workload
--------
For a batch of B sequences, run r: B prompts of --prompt-tokens ids, prompt i
being ``mlx_lm_bench.prompt_ids(seed = r * 1000 + i)`` (warm-up runs use
negative r), all inserted at once into a fresh ``BatchGenerator`` (greedy, no
stop tokens, so EOS is ignored and each sequence yields exactly --gen-tokens
tokens; default prefill and completion batch sizes as mlx_lm.server uses).

Timing (``time.perf_counter``): from just before ``insert`` to when the last
token of the last sequence is returned; aggregate tokens/s = B * gen_tokens /
that time (prefill included, as a client of a server sees it). Batch sizes
alternate within each run (1, 4, 8, 16, 1, 4, ...), after --warmup untimed
rounds; each figure is printed as median (min-max) over --runs.

JSON output (``--json``): {"engine": "mlx_lm.BatchGenerator", "mlx_version",
"mlx_lm_version", "device", "model", "prompt_tokens", "gen_tokens",
"figures": [{"name", "unit", "runs": [float], "median", "min", "max"}]}
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import mlx.core as mx
import mlx_lm
from mlx_lm.generate import BatchGenerator
from mlx_lm.utils import load_model

from mlx_lm_bench import prompt_ids


def run_batch(model, prompts, gen_tokens):
    """Generate gen_tokens for every prompt at once; return tokens/s."""
    gen = BatchGenerator(model, max_tokens=gen_tokens)
    start = time.perf_counter()
    gen.insert(prompts, [gen_tokens] * len(prompts))
    tokens = 0
    while responses := gen.next_generated():
        tokens += len(responses)
    seconds = time.perf_counter() - start
    gen.close()
    if tokens != len(prompts) * gen_tokens:
        raise SystemExit(f"mlx_lm_batch: {tokens} tokens, want {len(prompts) * gen_tokens}")
    return tokens / seconds


def round_(model, config, args, run):
    """One run of every batch size; return {batch size: tokens/s}."""
    out = {}
    for b in args.streams:
        prompts = [
            prompt_ids(args.model, config, args.prompt_tokens, run * 1000 + i)
            for i in range(b)
        ]
        out[b] = run_batch(model, prompts, args.gen_tokens)
        mx.clear_cache()
    return out


def bench(args):
    model, config = load_model(Path(args.model))
    for w in range(args.warmup):
        round_(model, config, args, -1 - w)
    runs = {b: [] for b in args.streams}
    for r in range(args.runs):
        for b, tps in round_(model, config, args, r).items():
            runs[b].append(tps)
        print(f"mlx_lm_batch: run {r + 1} of {args.runs} done", file=sys.stderr)
    figures = [
        {
            "name": f"{b:2d} streams: aggregate",
            "unit": "tok/s",
            "runs": xs,
            "median": statistics.median(xs),
            "min": min(xs),
            "max": max(xs),
        }
        for b, xs in runs.items()
    ]
    device = mx.default_device()
    return {
        "engine": "mlx_lm.BatchGenerator",
        "mlx_version": mx.__version__,
        "mlx_lm_version": mlx_lm.__version__,
        "device": "gpu" if device.type == mx.DeviceType.gpu else "cpu",
        "model": args.model,
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "figures": figures,
    }


def num(x):
    """3 significant digits, at least the units (as lmx bench serve prints)."""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def print_text(r, runs, warmup):
    print(f"mlx_lm.BatchGenerator: mlx {r['mlx_version']}, mlx_lm {r['mlx_lm_version']}, {r['device']}")
    print(f"model {r['model']}; {r['prompt_tokens']} prompt + {r['gen_tokens']} generated tokens per sequence")
    print(f"{runs} runs after {warmup} warm-up, batch sizes alternating; median (min–max)\n")
    print(f"{'figure':<22}  {'unit':<5}  mlx_lm.BatchGenerator")
    for f in r["figures"]:
        print(f"{f['name']:<22}  {f['unit']:<5}  {num(f['median'])} ({num(f['min'])}–{num(f['max'])})")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--streams", default="1,4,8,16", help="batch sizes, comma-separated")
    p.add_argument("--prompt-tokens", type=int, default=128)
    p.add_argument("--gen-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--json-out", help="also write the JSON object to this file")
    args = p.parse_args(argv)
    args.streams = [int(s) for s in args.streams.split(",") if s.strip()]
    if args.prompt_tokens < 1 or args.gen_tokens < 1 or args.runs < 1 or args.warmup < 0:
        p.error("need --prompt-tokens >= 1, --gen-tokens >= 1, --runs >= 1, --warmup >= 0")
    if not args.streams or min(args.streams) < 1:
        p.error("--streams needs positive batch sizes")
    return args


def main(argv):
    args = parse_args(argv)
    result = bench(args)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result))
    if args.json:
        print(json.dumps(result))
    else:
        print_text(result, args.runs, args.warmup)


if __name__ == "__main__":
    main(sys.argv[1:])
