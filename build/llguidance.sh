#!/usr/bin/env bash
# build/llguidance.sh — build llguidance (guidance-ai's structured-output
# engine, Rust, MIT) from crates.io as a C ABI shared library and put it in
# build/lib/ beside the MLX shim, where engine/grammar loads it.
#
#   build/llguidance.sh              build once; later runs skip while the
#                                    version stamp matches
#   LMX_MLX_LIB=/dir build/llguidance.sh   install into /dir instead
#
# The crate version is pinned in build/llguidance/Cargo.toml ("=1.9.1") and
# every transitive crate in build/llguidance/Cargo.lock (committed; the build
# runs with --locked). Cargo's target folder is build/llguidance/target.
# Needs cargo/rustc >= 1.87 (the crate's rust-version); without one, rustup
# installs a minimal stable toolchain into ~/.cargo.
set -euo pipefail

LLG_VERSION=1.9.1
RUST_MIN=1.87
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJ="$ROOT/build/llguidance"
TARGET="$PROJ/target"
LIBDIR="${LMX_MLX_LIB:-$ROOT/build/lib}"

die() { echo "build/llguidance.sh: $*" >&2; exit 1; }

case "$(uname -s)" in
  Darwin) LIB=libllguidance.dylib ;;
  Linux) LIB=libllguidance.so ;;
  *) die "unsupported OS $(uname -s)" ;;
esac
STAMP_FILE="$LIBDIR/$LIB.version"

sha() { if command -v sha256sum >/dev/null; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1; }

# The stamp names the crate and the lock file, so editing either rebuilds.
stamp="llguidance=$LLG_VERSION lock=$(sha "$PROJ/Cargo.lock")"

if [[ -f "$LIBDIR/$LIB" && -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$stamp" ]]; then
  echo "build/llguidance.sh: $LIBDIR/$LIB is up to date (llguidance $LLG_VERSION)"
  exit 0
fi

# version_ge A B: A >= B for dotted versions.
version_ge() { [[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" == "$2" ]]; }

# ensure_cargo puts a cargo >= RUST_MIN on PATH, installing rustup if needed.
ensure_cargo() {
  export PATH="$HOME/.cargo/bin:$PATH"
  if command -v cargo >/dev/null 2>&1; then
    local v
    v="$(rustc --version | awk '{print $2}')"
    version_ge "$v" "$RUST_MIN" && return
    command -v rustup >/dev/null 2>&1 || die "rustc $v is older than $RUST_MIN; install a newer Rust (https://rustup.rs)"
    echo "build/llguidance.sh: rustc $v < $RUST_MIN, installing stable with rustup" >&2
    rustup toolchain install stable --profile minimal && rustup default stable
    return
  fi
  command -v curl >/dev/null 2>&1 || die "cargo not found and curl missing to install it (https://rustup.rs)"
  echo "build/llguidance.sh: cargo not found, installing a minimal Rust toolchain with rustup" >&2
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --no-modify-path
}

ensure_cargo
echo "build/llguidance.sh: building llguidance $LLG_VERSION (cargo $(cargo --version | awk '{print $2}'))" >&2
# Only the crate's cdylib target, built with this workspace's lock file and
# release profile; its C functions catch Rust panics at the boundary.
CARGO_TARGET_DIR="$TARGET" cargo rustc --locked --release \
  --manifest-path "$PROJ/Cargo.toml" -p llguidance --lib --crate-type cdylib

built="$TARGET/release/$LIB"
[[ -f "$built" ]] || die "cargo finished but $built is missing"
mkdir -p "$LIBDIR"
cp -f "$built" "$LIBDIR/$LIB.tmp"
mv -f "$LIBDIR/$LIB.tmp" "$LIBDIR/$LIB"
echo "$stamp" > "$STAMP_FILE"
echo "build/llguidance.sh: installed $LIBDIR/$LIB"
