#!/usr/bin/env bash
# engine/bench/serve_cuda.sh — the serving benchmark (serve_compare.sh) on an
# NVIDIA machine with no network: LMX and mlx_lm.server (and mlx_lm's
# BatchGenerator) on random-weight 4-bit folders of real shapes, made there
# with mlx_lm's own code. It sets up MLX's CUDA backend as
# build/bench-cuda.sh does; what it needs is handed to it:
#
#   WHEELS   folder with mlx_cuda_13-0.32.4-*.whl, mlx-0.32.4-cp3*.whl and
#            mlx_lm-0.32.2-*.whl (pip download --no-deps for the machine's Python)
#   LMX_BIN  an lmx binary built for linux/amd64 (CGO_ENABLED=0 go build .)
#   FIXTURES a copy of the fixtures' tokenizers/{qwen3,llama3_1}
#   NVIDIA   site-packages folder holding the nvidia/ CUDA 13 runtime wheels
#   CONFIGS  make_model.py configs to measure (default "qwen3-0.6b llama-1b")
#   OUT      where the reports go (default /tmp/lmx-serve)
# Further arguments go to lmx bench serve (default: its own defaults).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
for v in WHEELS LMX_BIN FIXTURES NVIDIA; do
	[[ -n "${!v:-}" ]] || { echo "serve_cuda.sh: set $v (see the header of this script)" >&2; exit 2; }
done
SITE="${SITE:-/tmp/lmx-site}"
MODELS="${MODELS:-/tmp/lmx-models}"
OUT="${OUT:-/tmp/lmx-serve}"

python3 -m pip install -q --no-index --no-deps --no-compile --target "$SITE" \
	"$WHEELS"/mlx-0.32.4-*.whl "$WHEELS"/mlx_lm-*.whl "$WHEELS"/mlx_cuda_13-*.whl
ln -sfn "$NVIDIA/nvidia" "$SITE/nvidia"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
MLX_BACKEND=cuda MLX_WHEEL_DIR="$WHEELS" PYTHON=python3 build/mlx.sh
export LMX_MLX_LIB="$ROOT/build/lib"

for config in ${CONFIGS:-qwen3-0.6b llama-1b}; do
	tok=qwen3
	[[ $config == llama-* || $config == smollm2-* ]] && tok=llama3_1
	dir="$MODELS/$config-4bit"
	[[ -d "$dir" ]] || python3 engine/bench/make_model.py --config "$config" \
		--bits 4 --group-size 64 --tokenizer "$FIXTURES/tokenizers/$tok" --out "$dir"
	echo "== $config 4-bit"
	OUT="$OUT/$config" LMX_BIN="$LMX_BIN" LMX_PYTHON=python3 engine/bench/serve_compare.sh "$dir" "$@"
done
