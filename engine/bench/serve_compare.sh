#!/usr/bin/env bash
# Compare LMX with mlx_lm on one model folder: starts `lmx serve` and
# `mlx_lm.server` on it, runs `lmx bench serve` against both (alternating run
# by run), then mlx_lm's BatchGenerator in-process (mlx_lm_batch.py) on the
# same concurrent-stream workload, and stops both servers.
#
# usage: engine/bench/serve_compare.sh MODEL_DIR [lmx bench serve flags...]
#   env: LMX_BIN (default: built into $TMPDIR), LMX_SERVE_BIN (the lmx that serves,
#        default LMX_BIN: another build, e.g. of an older commit), LMX_PYTHON (default .venv/bin/python),
#        LMX_PORT (18235), MLX_LM_PORT (18080), LMX_MLX_LIB (as for lmx serve),
#        OUT (a folder for the logs and JSON reports; default a temporary one)
# The flags go to lmx bench serve; --runs, --warmup, --streams,
# --stream-prompt-tokens and --stream-gen-tokens also go to mlx_lm_batch.py.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
[[ $# -ge 1 ]] || { sed -n '2,12p' "$0"; exit 2; }
model=$(cd "$1" && pwd) # absolute: mlx_lm.server keys its loaded model by the path
shift
py=${LMX_PYTHON:-$root/.venv/bin/python}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
lmx_port=${LMX_PORT:-18235}
mlx_port=${MLX_LM_PORT:-18080}
export LMX_MLX_LIB=${LMX_MLX_LIB:-$root/build/lib}

lmx=${LMX_BIN:-}
if [[ -z $lmx ]]; then
	lmx=$out/lmx
	(cd "$root" && go build -o "$lmx" .)
fi

# The batch script takes the flags it shares with lmx bench serve.
batch_args=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case ${args[i]} in
	--runs | --warmup | --streams) batch_args+=("${args[i]}" "${args[i + 1]}") ;;
	--stream-prompt-tokens) batch_args+=(--prompt-tokens "${args[i + 1]}") ;;
	--stream-gen-tokens) batch_args+=(--gen-tokens "${args[i + 1]}") ;;
	esac
done

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"${LMX_SERVE_BIN:-$lmx}" serve --port "$lmx_port" --data-dir "$out/lmx-data" --model "$model" >"$out/lmx.log" 2>&1 &
pids+=($!)
"$py" -m mlx_lm.server --model "$model" --port "$mlx_port" >"$out/mlx_lm.log" 2>&1 &
pids+=($!)

# wait_for URL NAME: until the server answers (loading a model takes a while).
wait_for() {
	for _ in $(seq 600); do
		"$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$1" 2>/dev/null && return 0
		sleep 1
	done
	echo "serve_compare: $2 did not answer $1; see $out" >&2
	exit 1
}
wait_for "http://127.0.0.1:$lmx_port/v1/models" "lmx serve"
wait_for "http://127.0.0.1:$mlx_port/health" "mlx_lm.server"

echo "lmx $("${LMX_SERVE_BIN:-$lmx}" version 2>/dev/null | head -1); mlx_lm $("$py" -c 'import mlx_lm, mlx.core as mx; print(mlx_lm.__version__, "on mlx", mx.__version__, mx.default_device())')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "model $model"
echo

"$lmx" bench serve --model "$model" --a "http://127.0.0.1:$lmx_port" --b "http://127.0.0.1:$mlx_port" \
	--a-name lmx --b-name mlx_lm.server --json-out "$out/serve.json" "$@"
cleanup
pids=()

echo
"$py" "$root/engine/bench/mlx_lm_batch.py" --model "$model" "${batch_args[@]}" --json-out "$out/batch.json"
echo
echo "reports and logs: $out"
