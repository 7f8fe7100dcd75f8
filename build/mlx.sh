#!/usr/bin/env bash
# build/mlx.sh — fetch MLX's official PyPI wheel for this platform, build the
# project's C ABI shim (metal/shim) against it, and put everything the Go
# binary loads into build/lib/.
#
#   build/mlx.sh                      Linux: mlx-cpu; macOS: mlx-metal
#   MLX_BACKEND=cuda build/mlx.sh     Linux: mlx-cuda-13
#   MLX_WHEEL_DIR=/path build/mlx.sh  use a wheel already downloaded there
#                                     (no network needed)
#   MLX_BLAS=openblas build/mlx.sh    Linux: use the system's OpenBLAS instead
#                                     of the wheel's reference BLAS
#
# CUDA: libmlx.so from mlx-cuda-13 links against the NVIDIA runtime wheels
# (cuBLAS, cuFFT, cuSOLVER, NVRTC, cuDNN, NCCL, CUDA runtime) and the
# driver's libcuda.so.1, and JIT-compiles kernels with headers it finds
# relative to itself. So the CUDA build keeps the wheel's layout in
# build/mlx/cuda (libmlx.so stays in mlx/lib, beside mlx/include) and
# build/lib holds only the shim, whose RPATH points there. The NVIDIA
# libraries come from nvidia_*.whl files in the wheel folder (MLX_CUDA_DEPS=1
# downloads them, several GB) or else from the nvidia-* packages installed
# for $PYTHON, linked as build/mlx/cuda/nvidia.
set -euo pipefail

MLX_VERSION=0.32.4
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

die() { echo "build/mlx.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

pick_backend() {
  case "$(uname -s)" in
    Darwin) BACKEND=metal; PKG=mlx-metal; LIBEXT=dylib ;;
    Linux)
      BACKEND="${MLX_BACKEND:-cpu}"; LIBEXT=so
      case "$BACKEND" in
        cpu) PKG=mlx-cpu ;;
        cuda) PKG=mlx-cuda-13 ;;
        *) die "MLX_BACKEND must be cpu or cuda, not '$BACKEND'" ;;
      esac ;;
    *) die "unsupported OS $(uname -s)" ;;
  esac
  WHEEL_GLOB="${PKG//-/_}-${MLX_VERSION}-*.whl"
}

# fetch_wheel sets WHEEL to the wheel file, downloading it when needed.
fetch_wheel() {
  local dir="${MLX_WHEEL_DIR:-$ROOT/build/mlx/wheels}"
  mkdir -p "$dir"
  WHEEL_DIR="$dir"
  WHEEL="$(ls "$dir"/$WHEEL_GLOB 2>/dev/null | head -n1 || true)"
  if [[ -n "$WHEEL" ]]; then return; fi
  [[ -z "${MLX_WHEEL_DIR:-}" ]] || die "no $WHEEL_GLOB in MLX_WHEEL_DIR=$MLX_WHEEL_DIR"
  need "$PYTHON" "install Python 3 (or set PYTHON) so pip can download $PKG"
  "$PYTHON" -m pip --version >/dev/null 2>&1 ||
    die "pip is missing for $PYTHON (apt-get install python3-pip)"
  echo "build/mlx.sh: downloading $PKG==$MLX_VERSION" >&2
  local deps=--no-deps
  [[ "$BACKEND" == cuda && "${MLX_CUDA_DEPS:-0}" == 1 ]] && deps=
  "$PYTHON" -m pip download --quiet $deps --only-binary=:all: \
    -d "$dir" "$PKG==$MLX_VERSION" || die "pip download $PKG==$MLX_VERSION failed"
  WHEEL="$(ls "$dir"/$WHEEL_GLOB 2>/dev/null | head -n1 || true)"
  [[ -n "$WHEEL" ]] || die "pip download left no $WHEEL_GLOB in $dir"
}

# unpack_wheel unpacks WHEEL into build/mlx/<backend> once per wheel file and
# checks that it carries the library, the headers and the CMake config.
unpack_wheel() {
  PREFIX="$ROOT/build/mlx/$BACKEND"
  local stamp="$PREFIX/.wheel"
  if [[ "$(cat "$stamp" 2>/dev/null)" != "$(basename "$WHEEL")" ]]; then
    rm -rf "$PREFIX" && mkdir -p "$PREFIX"
    "$PYTHON" -m zipfile -e "$WHEEL" "$PREFIX" || die "cannot unpack $WHEEL"
    basename "$WHEEL" >"$stamp"
  fi
  local f
  for f in "mlx/lib/libmlx.$LIBEXT" mlx/include/mlx/mlx.h \
    mlx/share/cmake/MLX/MLXConfig.cmake; do
    [[ -e "$PREFIX/$f" ]] || die "wheel $(basename "$WHEEL") lacks $f"
  done
}

build_shim() {
  need cmake "install CMake >= 3.24 (apt-get install cmake / brew install cmake)"
  need "${CXX:-c++}" "install a C++20 compiler (apt-get install g++ / xcode-select --install)"
  local bdir="$ROOT/build/shim-build/$BACKEND"
  # The CUDA wheel's MLXConfig.cmake wants the CUDA toolkit; import directly.
  local how=(-DMLX_DIR="$PREFIX/mlx/share/cmake/MLX")
  [[ "$BACKEND" == cuda ]] &&
    how=(-DLMX_MLX_PREFIX="$PREFIX/mlx" -DLMX_RPATH='$ORIGIN/../mlx/cuda/mlx/lib')
  if [[ ! -f "$bdir/CMakeCache.txt" ]]; then
    cmake -S "$ROOT/metal/shim" -B "$bdir" -DCMAKE_BUILD_TYPE=Release "${how[@]}" \
      >/dev/null || die "cmake configure failed"
  fi
  cmake --build "$bdir" --parallel >/dev/null || die "shim build failed (run: cmake --build $bdir)"
  SHIM="$bdir/liblmxshim.$LIBEXT"
}

# install_libs copies what the binary loads into build/lib (only changed files).
install_libs() {
  local out="$ROOT/build/lib" f
  mkdir -p "$out"
  local files=("$SHIM")
  if [[ "$BACKEND" == cuda ]]; then
    cuda_runtime
    rm -f "$out/libmlx.so" # the shim loads the wheel's, in place
  else
    files+=("$PREFIX/mlx/lib/libmlx.$LIBEXT")
    # auditwheel puts libmlx's BLAS/LAPACK (and their runtime) in mlx_*.libs/.
    for f in "$PREFIX"/mlx_*.libs/* "$PREFIX"/mlx/lib/mlx.metallib; do
      [[ -e "$f" ]] && files+=("$f")
    done
  fi
  # Copy then rename: a running lmx or test keeps the old file mapped, and
  # overwriting it in place would change the code under it.
  for f in "${files[@]}"; do
    local dst="$out/$(basename "$f")"
    cmp -s "$f" "$dst" || { cp "$f" "$dst.new.$$" && mv -f "$dst.new.$$" "$dst"; } || die "cannot install $dst"
  done
  [[ "${MLX_BLAS:-}" == openblas ]] && use_openblas "$out"
  echo "$BACKEND $MLX_VERSION ${MLX_BLAS:-wheel-blas}" >"$out/BACKEND"
  echo "build/mlx.sh: MLX $MLX_VERSION ($BACKEND) ready in $out" >&2
}

# use_openblas replaces the wheel's bundled reference BLAS/LAPACK (netlib,
# about 7x slower on a 1024x1024 mat-vec) with the system's OpenBLAS under the
# same file names, which is how libmlx's DT_NEEDED entries find them.
# Debian: apt-get install libopenblas0-pthread.
use_openblas() {
  local out=$1 dir f
  dir="/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/openblas-pthread"
  [[ -e "$dir/libblas.so.3" && -e "$dir/liblapack.so.3" ]] ||
    die "MLX_BLAS=openblas: no OpenBLAS in $dir (apt-get install libopenblas0-pthread)"
  for f in "$out"/libblas-*.so.*; do cp "$dir/libblas.so.3" "$f"; done
  for f in "$out"/liblapack-*.so.*; do cp "$dir/liblapack.so.3" "$f"; done
}

# cuda_runtime sets up build/mlx/cuda/nvidia, where libmlx's own RPATH
# ($ORIGIN/../../nvidia/*/lib) looks for the NVIDIA libraries.
cuda_runtime() {
  local w n=0
  for w in "$WHEEL_DIR"/nvidia_*.whl; do
    [[ -e "$w" ]] || continue
    n=$((n + 1))
    [[ -e "$PREFIX/.$(basename "$w")" ]] && continue
    "$PYTHON" -m zipfile -e "$w" "$PREFIX" || die "cannot unpack $w"
    touch "$PREFIX/.$(basename "$w")"
  done
  if [[ $n == 0 && ! -e "$PREFIX/nvidia" ]]; then
    local site
    site="$("$PYTHON" -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null)" || site=
    [[ -n "$site" ]] && ln -s "$site" "$PREFIX/nvidia"
  fi
  if ! ls "$PREFIX"/nvidia/*/lib/libcublasLt.so.13* >/dev/null 2>&1 &&
    ! ldconfig -p 2>/dev/null | grep -q libcublasLt.so.13; then
    echo "build/mlx.sh: warning: no CUDA 13 runtime libraries found; put the" \
      "nvidia-* wheels in the wheel folder or set MLX_CUDA_DEPS=1" >&2
  fi
}

pick_backend
fetch_wheel
unpack_wheel
build_shim
install_libs
