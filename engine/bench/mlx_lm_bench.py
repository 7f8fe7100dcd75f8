"""Measure prefill and decode speed of a model folder through mlx_lm.

Usage:
    python engine/bench/mlx_lm_bench.py --model DIR --prompt-tokens N --gen-tokens M \
        [--runs R] [--seed S] [--json] [--prompt-only]
    python engine/bench/mlx_lm_bench.py --model DIR --prompt-tokens N --gen-tokens M \
        [--seed S] --steps

``lmx bench`` runs exactly this workload, so the two figures can be divided.

Workload
--------
Prompt: N token ids from splitmix64 seeded with S (default 0), all arithmetic
modulo 2**64::

    state += 0x9E3779B97F4A7C15
    z = state
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    z = z ^ (z >> 31)
    id = z % V

V is config.json's ``vocab_size`` (or ``text_config.vocab_size``), lowered to
the size of ``model.vocab`` in tokenizer.json when that file exists. An id
listed in tokenizer.json's ``added_tokens`` (special tokens, ``<think>``...) is
dropped and the next number drawn, until N ids are kept.

Generation: batch 1, a fresh KV cache per run, greedy (argmax), exactly M
tokens (M >= 2) whatever they are: EOS does not stop it. mlx_lm's
``generate_step`` runs it: the prompt but its last token is prefilled in chunks
of 2048, the last prompt token yields the first generated token, and each
decode step is queued with ``async_eval`` before the previous token is read.

Timing (``time.perf_counter``), per run:
    prefill_s = from just before the generator is created (prompt ids already
                an evaluated array) to when the first generated token is read
    decode_s  = from then to when the M-th token is read
    prefill_tps = N / prefill_s
    decode_tps  = (M - 1) / decode_s
    peak_memory_bytes = ``mx.get_peak_memory()`` after the run, the counter
                reset just before it (so it includes the weights)
``mx.clear_cache()`` follows every run, so each starts with an empty buffer
cache. One untimed warm-up run comes first; the reported figures are the
medians over R timed runs (default 3), and peak memory the largest run's.

JSON output (``--json``, one object on stdout)::

    {
      "engine": "mlx_lm",
      "mlx_version": str, "mlx_lm_version": str,
      "device": "cpu" | "gpu", "device_name": str,
      "model": str (the --model argument), "model_type": str,
      "quantization": {"group_size", "bits", "mode"} | null,
      "prompt_tokens": N, "gen_tokens": M, "seed": S,
      "prefill_tps": float, "decode_tps": float,    # medians
      "prefill_s": float, "decode_s": float,        # medians
      "peak_memory_bytes": int,                     # largest run's
      "runs": [{"prefill_s", "decode_s", "prefill_tps", "decode_tps",
                "peak_memory_bytes"}, ...],
      "generated": [int] * M    # tokens of the last timed run
    }

Stepped mode (``--steps``), for a driver that alternates engines run by run
(``lmx bench --compare-mlx-lm``): the model and prompt are loaded once, one
JSON line with the header fields above (engine ... seed) is printed, then each
line ``run`` read from stdin does one run, timed as above, and prints one JSON
line ``{"prefill_s", "decode_s", "prefill_tps", "decode_tps",
"peak_memory_bytes", "generated"}``. No warm-up is done: the driver's first
run is its warm-up. EOF on stdin ends the process (exit 0); any other line is
an error (exit 2).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import mlx.core as mx
import mlx_lm
from mlx_lm.generate import generate_step
from mlx_lm.utils import load_config, load_model

MASK64 = (1 << 64) - 1


def splitmix64(seed):
    """Yield the splitmix64 sequence for seed (see the module docstring)."""
    state = seed & MASK64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        yield z ^ (z >> 31)


def id_range(model_dir, config):
    """The id bound V and the ids to skip, as the module docstring defines."""
    vocab = config.get("vocab_size") or config["text_config"]["vocab_size"]
    skip = set()
    tok_path = Path(model_dir) / "tokenizer.json"
    if tok_path.is_file():
        tok = json.loads(tok_path.read_text())
        vocab = min(vocab, len(tok["model"]["vocab"]))
        skip = {a["id"] for a in tok.get("added_tokens", [])}
    return vocab, skip


def prompt_ids(model_dir, config, n, seed):
    """N deterministic, non-special prompt ids."""
    vocab, skip = id_range(model_dir, config)
    ids = []
    for z in splitmix64(seed):
        if len(ids) == n:
            return ids
        if z % vocab not in skip:
            ids.append(z % vocab)


def run_once(model, prompt, gen_tokens):
    """Generate gen_tokens tokens; return the timing record and the tokens."""
    tokens = []
    start = time.perf_counter()
    first = None
    for token, _ in generate_step(prompt, model, max_tokens=gen_tokens):
        tokens.append(token)
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    prefill_s, decode_s = first - start, end - first
    record = {
        "prefill_s": prefill_s,
        "decode_s": decode_s,
        "prefill_tps": prompt.size / prefill_s,
        "decode_tps": (gen_tokens - 1) / decode_s,
    }
    return record, tokens


def timed_run(model, prompt, gen_tokens):
    """One run as the module docstring times it: the peak counter restarted
    before, the buffer cache cleared after."""
    mx.reset_peak_memory()
    record, tokens = run_once(model, prompt, gen_tokens)
    record["peak_memory_bytes"] = mx.get_peak_memory()
    mx.clear_cache()
    return record, tokens


def load(args):
    """The model, its config and the evaluated prompt array."""
    model, config = load_model(Path(args.model))
    prompt = mx.array(prompt_ids(args.model, config, args.prompt_tokens, args.seed))
    mx.eval(prompt)
    return model, config, prompt


def bench(args):
    model, config, prompt = load(args)
    timed_run(model, prompt, args.gen_tokens)
    runs = []
    for _ in range(args.runs):
        record, tokens = timed_run(model, prompt, args.gen_tokens)
        runs.append(record)
    return report(args, config, runs, tokens)


def steps(args):
    """--steps: the header line, then one timed run per "run" line of stdin.
    Anything else printed (a library's warning) goes to stderr, so stdout holds
    only the protocol's lines."""
    out, sys.stdout = sys.stdout, sys.stderr
    model, config, prompt = load(args)
    emit(out, header(args, config))
    for line in sys.stdin:
        if line.strip() != "run":
            print(f"mlx_lm_bench.py --steps: unknown command {line.strip()!r}; "
                  "send 'run' or close stdin", file=sys.stderr)
            sys.exit(2)
        record, tokens = timed_run(model, prompt, args.gen_tokens)
        emit(out, {**record, "generated": tokens})


def emit(out, obj):
    """Print one JSON line to out and flush it: the driver waits for each line."""
    print(json.dumps(obj), file=out, flush=True)


def header(args, config):
    """The report's fields that do not depend on the runs."""
    device = mx.default_device()
    return {
        "engine": "mlx_lm",
        "mlx_version": mx.__version__,
        "mlx_lm_version": mlx_lm.__version__,
        "device": "gpu" if device.type == mx.DeviceType.gpu else "cpu",
        "device_name": mx.device_info().get("device_name", ""),
        "model": args.model,
        "model_type": config.get("model_type"),
        "quantization": config.get("quantization"),
        "prompt_tokens": args.prompt_tokens,
        "gen_tokens": args.gen_tokens,
        "seed": args.seed,
    }


def report(args, config, runs, tokens):
    median = lambda key: statistics.median(r[key] for r in runs)
    return {
        **header(args, config),
        "prefill_tps": median("prefill_tps"),
        "decode_tps": median("decode_tps"),
        "prefill_s": median("prefill_s"),
        "decode_s": median("decode_s"),
        "peak_memory_bytes": max(r["peak_memory_bytes"] for r in runs),
        "runs": runs,
        "generated": tokens,
    }


def print_text(r):
    print(f"mlx {r['mlx_version']}, mlx_lm {r['mlx_lm_version']}, "
          f"{r['device']} ({r['device_name']})")
    print(f"model {r['model']} ({r['model_type']}, quantization {r['quantization']})")
    print(f"prompt {r['prompt_tokens']} tokens, generate {r['gen_tokens']}, "
          f"{len(r['runs'])} runs (median)")
    print(f"prefill {r['prefill_tps']:.1f} tokens/s ({r['prefill_s']:.3f} s)")
    print(f"decode  {r['decode_tps']:.1f} tokens/s ({r['decode_s']:.3f} s)")
    print(f"peak memory {r['peak_memory_bytes'] / 2**20:.1f} MiB")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model folder")
    p.add_argument("--prompt-tokens", type=int, required=True)
    p.add_argument("--gen-tokens", type=int, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--steps",
        action="store_true",
        help="stepped mode: a header line, then one timed run per 'run' line on stdin",
    )
    p.add_argument(
        "--prompt-only",
        action="store_true",
        help="print the prompt ids as a JSON list and exit (loads no weights)",
    )
    args = p.parse_args(argv)
    if args.prompt_tokens < 1 or args.gen_tokens < 2 or args.runs < 1:
        p.error("need --prompt-tokens >= 1, --gen-tokens >= 2, --runs >= 1")
    return args


def main(argv):
    args = parse_args(argv)
    if args.prompt_only:
        config = load_config(Path(args.model))
        print(json.dumps(prompt_ids(args.model, config, args.prompt_tokens, args.seed)))
        return
    if args.steps:
        steps(args)
        return
    result = bench(args)
    if args.json:
        print(json.dumps(result))
    else:
        print_text(result)


if __name__ == "__main__":
    main(sys.argv[1:])
