#!/usr/bin/env bash
# build/bench-cuda.sh — the throughput benchmark on an NVIDIA machine with no
# network: LMX (MLX's CUDA backend through the shim) beside mlx_lm on the same
# model folders, in one run. Everything it needs is handed to it:
#
#   WHEELS   folder with mlx_cuda_13-0.32.4-*.whl, mlx-0.32.4-cp3*.whl and
#            mlx_lm-0.32.2-*.whl (pip download --no-deps for the machine's Python)
#   LMX_BIN  an lmx binary built for linux/amd64 (CGO_ENABLED=0 go build .)
#   FIXTURES a copy of the fixtures' models/stories260k and tokenizers/qwen3
#   NVIDIA   site-packages folder holding the nvidia/ CUDA 13 runtime wheels
#            (cuBLAS, cuDNN, NVRTC, …) that libmlx links against
#
# It builds the shim against the CUDA wheel, makes the random-weight
# Qwen3-0.6B 4-bit folder with mlx_lm's own code, and prints `lmx bench
# --compare-mlx-lm` for stories260k and that folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
for v in WHEELS LMX_BIN FIXTURES NVIDIA; do
  [[ -n "${!v:-}" ]] || { echo "build/bench-cuda.sh: set $v (see the header of this script)" >&2; exit 2; }
done
PROMPT="${PROMPT_TOKENS:-512}" GEN="${GEN_TOKENS:-128}" RUNS="${RUNS:-3}"
SITE="${SITE:-/tmp/lmx-site}"
MODELS="${MODELS:-/tmp/lmx-models}"

python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" \
  "$WHEELS"/mlx-0.32.4-*.whl "$WHEELS"/mlx_lm-*.whl "$WHEELS"/mlx_cuda_13-*.whl
ln -sfn "$NVIDIA/nvidia" "$SITE/nvidia"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
python3 -c 'import mlx.core as mx; print("mlx", mx.__version__, mx.default_device())'

MLX_BACKEND=cuda MLX_WHEEL_DIR="$WHEELS" PYTHON=python3 build/mlx.sh
export LMX_MLX_LIB="$ROOT/build/lib"

qwen="$MODELS/qwen3-0.6b-4bit"
[[ -d "$qwen" ]] || python3 engine/bench/make_model.py --config qwen3-0.6b \
  --bits 4 --group-size 64 --tokenizer "$FIXTURES/tokenizers/qwen3" --out "$qwen"

nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for m in "$FIXTURES/models/stories260k" "$qwen"; do
  echo "== $(basename "$m"): prompt $PROMPT, generate $GEN, median of $RUNS"
  "$LMX_BIN" bench --model "$m" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" \
    --runs "$RUNS" --compare-mlx-lm --python python3
done
