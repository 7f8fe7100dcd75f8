// compile.cpp — activations fused into one kernel with mlx::core::compile,
// as mlx_lm compiles its own (activations.py, nn.silu, nn.gelu_approx):
// each decode step then launches one kernel per activation instead of three
// to nine. The compiled functions are shapeless, so one trace per input
// dtype serves every shape; MLX keeps the traces (per thread) in its cache.
#include "internal.h"

using namespace lmx;

namespace {

// scalar is a constant of x's dtype, like a Python float next to an array.
mx::array scalar(double v, const mx::array& x) { return mx::array(v, x.dtype()); }

// silu is mlx.nn.silu: x·σ(x).
mx::array silu(const mx::array& x) { return mx::multiply(x, mx::sigmoid(x)); }

// gelu_approx is mlx.nn.gelu_approx:
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
mx::array gelu_approx(const mx::array& x) {
  auto cube = mx::power(x, scalar(3, x));
  auto inner = mx::multiply(scalar(std::sqrt(2 / M_PI), x),
                            mx::add(x, mx::multiply(scalar(0.044715, x), cube)));
  return mx::multiply(mx::multiply(scalar(0.5, x), x),
                      mx::add(scalar(1, x), mx::tanh(inner)));
}

// swiglu_fn is mlx_lm's activations.swiglu: silu(gate)·x.
std::vector<mx::array> swiglu_fn(const std::vector<mx::array>& in) {
  return {mx::multiply(silu(in[0]), in[1])};
}

// geglu_fn is Gemma's gated activation: gelu_approx(gate)·x.
std::vector<mx::array> geglu_fn(const std::vector<mx::array>& in) {
  return {mx::multiply(gelu_approx(in[0]), in[1])};
}

using Compiled = std::function<std::vector<mx::array>(const std::vector<mx::array>&)>;

// call runs a compiled two-input activation.
void call(const Compiled& f, lmx_array* out, lmx_array gate, lmx_array x) {
  give(out, f({arr(gate), arr(x)})[0]);
}

}  // namespace

extern "C" {

int lmx_swiglu(lmx_array* out, lmx_array gate, lmx_array x) {
  return guard([&] {
    static const Compiled f = mx::compile(swiglu_fn, /*shapeless=*/true);
    call(f, out, gate, x);
  });
}

int lmx_geglu(lmx_array* out, lmx_array gate, lmx_array x) {
  return guard([&] {
    static const Compiled f = mx::compile(geglu_fn, /*shapeless=*/true);
    call(f, out, gate, x);
  });
}

int lmx_set_compile(int32_t enabled) {
  return guard([&] {
    if (enabled) {
      mx::enable_compile();
    } else {
      mx::disable_compile();
    }
  });
}

}  // extern "C"
