#!/usr/bin/env bash
# Installs what building and testing LMX needs on Debian/Ubuntu (apt, the
# Python test venv, npm packages, Go modules) and skips what is already there.
# Usage: build/setup.sh [apt|py|npm|go|all]...   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  cmake g++ gcc make pkg-config        # the MLX shim; cgo for the desktop build
  libgtk-3-dev libwebkit2gtk-4.0-dev   # the Wails window (desktop build)
  libayatana-appindicator3-dev         # the menu-bar tray (desktop build)
  xvfb xdotool imagemagick dbus procps fonts-dejavu-core  # the window test under Xvfb
  xclip curl libx11-dev                # the tray test (clipboard), window.sh, wmclose (internal/snitest)
  chromium                             # the UI test in headless Chromium
)
PY_PACKAGES=(
  mlx==0.32.4 mlx-cpu==0.32.4 mlx-lm==0.32.2   # reference engine for comparisons
  huggingface-hub==2.4.0 tokenizers==0.23.3    # cache layout and tokenizer references
  jinja2==3.1.6                                # chat template references (engine/chat)
  openai==3.57.0 anthropic==2.14.0             # official clients against the server
  gguf==0.19.0                                 # GGUF reference reader (llama.cpp's gguf-py)
)

need_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: apt-get install ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# py_pinned reports whether .venv holds every PY_PACKAGES pin at its version
# (a venv with other versions would give references the goldens do not match).
py_pinned() {
  .venv/bin/python - "${PY_PACKAGES[@]}" 2>/dev/null <<'PY'
import importlib.metadata as md, sys
sys.exit(any(md.version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))
PY
}

need_py() {
  command -v python3 >/dev/null || { echo "setup: python3 is required" >&2; exit 1; }
  if [ ! -x .venv/bin/pip ]; then
    rm -rf .venv
    python3 -m venv .venv || { rm -rf .venv
      echo "setup: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
  fi
  if ! py_pinned; then
    echo "setup: pip install into .venv"
    .venv/bin/pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
  fi
}

need_npm() {
  command -v npm >/dev/null || { echo "setup: node and npm are required" >&2; exit 1; }
  if [ ! -d frontend/node_modules ] || [ frontend/package-lock.json -nt frontend/node_modules/.package-lock.json ]; then
    echo "setup: npm ci (frontend)"
    (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# need_llamacpp installs llama.cpp as a reference for tests and benchmarks
# (internal/llamacpp): node-llama-cpp's prebuilt CPU build for Linux x64, the
# platform the lockfile pins. Optional packages (its CUDA and Vulkan builds)
# are left out, and NODE_LLAMA_CPP_SKIP_DOWNLOAD keeps its install step from
# downloading or compiling llama.cpp.
need_llamacpp() {
  command -v npm >/dev/null || { echo "setup: node and npm are required" >&2; exit 1; }
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "setup: skipping the llama.cpp reference (internal/llamacpp pins the Linux x64 build)"
    return 0
  fi
  local dir=internal/llamacpp
  if [ ! -d $dir/node_modules ] || [ $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]; then
    echo "setup: npm ci (internal/llamacpp)"
    (cd $dir && NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm ci --omit=optional --no-audit --no-fund --loglevel=error)
  fi
}

# need_sdkclients installs the official OpenAI and Anthropic JavaScript SDKs
# that the API tests drive against lmx serve (internal/sdkclients).
need_sdkclients() {
  command -v npm >/dev/null || { echo "setup: node and npm are required" >&2; exit 1; }
  local dir=internal/sdkclients
  if [ ! -d $dir/node_modules ] || [ $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]; then
    echo "setup: npm ci (internal/sdkclients)"
    (cd $dir && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

need_go() {
  command -v go >/dev/null || { echo "setup: Go is required (go.mod names the version)" >&2; exit 1; }
  go mod download
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(all)
for s in "${steps[@]}"; do
  case "$s" in
    apt) need_apt ;;
    py) need_py ;;
    npm) need_npm ;;
    go) need_go ;;
    sdkclients) need_sdkclients ;;
    llamacpp) need_llamacpp ;;
    all) need_apt; need_go; need_npm; need_py; need_llamacpp; need_sdkclients ;;
    *) echo "setup: unknown step $s" >&2; exit 2 ;;
  esac
done
