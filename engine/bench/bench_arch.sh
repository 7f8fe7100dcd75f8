#!/usr/bin/env bash
# engine/bench/bench_arch.sh — `lmx bench --compare-mlx-lm` on the random-weight
# 4-bit folders of the architectures in make_model.py's BENCH_TOKENIZER, on an
# NVIDIA machine with no network, MLX's CUDA backend set up as
# build/bench-cuda.sh does. What it needs is handed to it:
#
#   WHEELS   folder with mlx_cuda_13-0.32.4-*.whl, mlx-0.32.4-cp3*.whl, mlx_lm-0.32.2-*.whl
#   LMX_BIN  an lmx binary built for linux/amd64 (CGO_ENABLED=0 go build .)
#   FIXTURES a copy of the fixtures' tokenizers/{qwen3,llama3_1} and
#            models/stories260k/tokenizer*.json
#   NVIDIA   site-packages folder holding the nvidia/ CUDA 13 runtime wheels
#   CONFIGS  make_model.py configs, in order (default: all of BENCH_TOKENIZER)
#   OUT      where results.jsonl (one `lmx bench --json` report a line, with
#            "config", "layers" and "round" added) goes (default /tmp/lmx-arch)
#   TOKENIZER one fixture tokenizer for every folder (default: BENCH_TOKENIZER)
#   RUNS     timed runs per engine and round (default 10); ROUNDS (default 1)
#   BUDGET_S stop starting models after this many seconds (default 540)
#   WARM_S   time allowed to each engine's kernel warm-up (default 420; 0: none)
#
# MLX's CUDA backend compiles many kernels with NVRTC the first time it meets
# a new kind of operation (a quantization mode, a fused function), tens of
# seconds each on the H200, and keeps them in /tmp/mlx/<version>/ptx. Before
# a folder's first round each engine therefore runs it once untimed (WARM_S),
# so that the timed command's own warm-up does not spend its 240 s compiling
# (Qwen3.5-35B-A3B's first prefill took about 3 minutes in each engine).
#
# Each round runs, per folder, what `lmx bench --compare-mlx-lm` does: LMX and
# a stepped mlx_lm process both load the folder, each does one warm-up run,
# then the two alternate run by run (ABAB…), RUNS runs each. Both hold the
# weights at once, so a folder needs twice its size in device memory. Each
# report prints its medians and min–max ranges, "level" where they overlap.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
for v in WHEELS LMX_BIN FIXTURES NVIDIA; do
	[[ -n "${!v:-}" ]] || { echo "bench_arch.sh: set $v (see the header of this script)" >&2; exit 2; }
done
START=$SECONDS
SITE="${SITE:-/tmp/lmx-site}"
MODELS="${MODELS:-/tmp/lmx-models}"
OUT="${OUT:-/tmp/lmx-arch}"
RUNS="${RUNS:-10}" ROUNDS="${ROUNDS:-1}" BUDGET_S="${BUDGET_S:-540}" WARM_S="${WARM_S:-420}"
mkdir -p "$OUT" "$MODELS"

python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" \
	"$WHEELS"/mlx-0.32.4-*.whl "$WHEELS"/mlx_lm-*.whl "$WHEELS"/mlx_cuda_13-*.whl || exit 1
ln -sfn "$NVIDIA/nvidia" "$SITE/nvidia"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
python3 -c 'import mlx.core as mx, mlx_lm; print("mlx", mx.__version__, "mlx_lm", mlx_lm.__version__, mx.default_device())'
MLX_BACKEND=cuda MLX_WHEEL_DIR="$WHEELS" PYTHON=python3 build/mlx.sh || exit 1
export LMX_MLX_LIB="$ROOT/build/lib"
echo "setup done at $((SECONDS - START)) s"

mm() { python3 engine/bench/make_model.py "$@"; }
CONFIGS="${CONFIGS:-$(python3 -c 'import sys; sys.path.insert(0, "engine/bench"); import make_model; print(" ".join(make_model.BENCH_TOKENIZER))')}"
for round in $(seq 1 "$ROUNDS"); do
	for config in $CONFIGS; do
		if ((SECONDS - START > BUDGET_S)); then
			echo "== budget spent at $((SECONDS - START)) s: $config round $round not run"
			continue
		fi
		layers=$(mm --config "$config" --print layers)
		tok=${TOKENIZER:-$(mm --config "$config" --print tokenizer)}
		dir="$MODELS/$config-4bit"
		if [[ ! -d $dir ]]; then
			timeout 150 python3 engine/bench/make_model.py --config "$config" --bits 4 --group-size 64 \
				${layers:+--layers "$layers"} --tokenizer "$FIXTURES/$tok" --out "$dir" ||
				{ echo "== $config: make_model failed"; rm -rf "$dir"; continue; }
		fi
		if ((round == 1 && WARM_S > 0)); then
			w=$SECONDS
			timeout "$WARM_S" "$LMX_BIN" bench --model "$dir" --prompt-tokens 512 --gen-tokens 8 --runs 1 >/dev/null 2>&1 ||
				echo "== $config: LMX kernel warm-up did not finish in $WARM_S s"
			timeout "$WARM_S" python3 engine/bench/mlx_lm_bench.py --model "$dir" --prompt-tokens 512 --gen-tokens 8 --runs 1 >/dev/null 2>&1 ||
				echo "== $config: mlx_lm kernel warm-up did not finish in $WARM_S s"
			echo "== $config: kernels warmed in $((SECONDS - w)) s"
		fi
		echo "== $config (layers ${layers:-all}) round $round at $((SECONDS - START)) s"
		if timeout 240 "$LMX_BIN" bench --model "$dir" --prompt-tokens 512 --gen-tokens 128 \
			--runs "$RUNS" --compare-mlx-lm --python python3 --json >"$OUT/last.json" 2>"$OUT/last.err"; then
			python3 - "$config" "${layers:-0}" "$round" "$OUT/last.json" >>"$OUT/results.jsonl" <<'PY'
import json, sys
config, layers, rnd, path = sys.argv[1:]
r = json.load(open(path))
r.update(config=config, layers=int(layers), round=int(rnd))
fig = r.get("figures") or {}
spread = lambda s, unit=1: f"{s['median'] / unit:,.1f} ({s['min'] / unit:,.1f}–{s['max'] / unit:,.1f})"
for e in ("lmx", "mlx_lm"):
    if r.get(e):
        r[e].pop("generated", None)
    if e in fig:
        f = fig[e]
        print(f"  {e:7} prefill {spread(f['prefill_tps'])}  decode {spread(f['decode_tps'])}  "
              f"peak MiB {spread(f['peak_memory_bytes'], 2**20)}", file=sys.stderr)
if r.get("versus"):
    vs = lambda v: f"{v['ratio']:.2f}x" + (" level" if v["level"] else "")
    v = r["versus"]
    print(f"  lmx/mlx_lm prefill {vs(v['prefill_tps'])}  decode {vs(v['decode_tps'])}  "
          f"peak {vs(v['peak_memory_bytes'])}  same tokens {r['same_tokens']}", file=sys.stderr)
print(json.dumps(r))
PY
		else
			echo "== $config: lmx bench failed (rc $?)"
			tail -5 "$OUT/last.err"
			cat "$OUT/last.err" >>"$OUT/errors.txt"
		fi
	done
done
du -sh "$MODELS"/* 2>/dev/null
echo "done at $((SECONDS - START)) s"
