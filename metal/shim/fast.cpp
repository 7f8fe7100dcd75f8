// fast.cpp — MLX's fused transformer kernels and custom kernels
// (mlx::core::fast).
#include "internal.h"

using namespace lmx;

namespace {

// swiglu_oai_fn is mlx_lm's activations.swiglu_oai (gpt-oss's experts):
// (clip(x, -7, 7) + 1) · g·σ(1.702·g) with g = min(gate, 7), the constants
// in x's dtype as Python floats beside an array are.
std::vector<mx::array> swiglu_oai_fn(const std::vector<mx::array>& in) {
  const auto& gate = in[0];
  const auto& x = in[1];
  auto c = [&](double v) { return mx::array(v, x.dtype()); };
  auto g = mx::minimum(gate, c(7.0));
  auto glu = mx::multiply(g, mx::sigmoid(mx::multiply(c(1.702), g)));
  return {mx::multiply(glu, mx::add(mx::clip(x, c(-7.0), c(7.0)), c(1.0)))};
}

// gated_delta_step_fn is mlx_lm's _gated_delta_step_ops, one step of the
// Gated DeltaNet recurrence: q, k [B, H, Dk], v [B, H, Dv], g [B, H] or
// [B, H, Dk], beta [B, H], state [B, H, Dv, Dk] and, when present, mask [B]
// (bool: false keeps the old state). Returns y [B, H, Dv] in q's dtype and
// the new state.
std::vector<mx::array> gated_delta_step_fn(const std::vector<mx::array>& in) {
  const auto& q = in[0];
  const auto& k = in[1];
  const auto& v = in[2];
  const auto& g = in[3];
  const auto& beta = in[4];
  const auto& old_state = in[5];
  mx::array decay = g.ndim() == 2 ? mx::expand_dims(g, {-1, -2})
                                  : mx::expand_dims(g, -2);
  auto kr = mx::expand_dims(k, -2);  // [B, H, 1, Dk]
  auto state = mx::multiply(old_state, decay);
  auto kv_mem = mx::sum(mx::multiply(state, kr), -1);  // [B, H, Dv]
  auto delta = mx::multiply(mx::subtract(v, kv_mem), mx::expand_dims(beta, -1));
  state = mx::add(state, mx::multiply(kr, mx::expand_dims(delta, -1)));
  auto y = mx::sum(mx::multiply(state, mx::expand_dims(q, -2)), -1);
  if (in.size() > 6) {
    state = mx::where(mx::expand_dims(in[6], {1, 2, 3}), state, old_state);
  }
  return {mx::astype(y, q.dtype()), state};
}

// check_gated_delta_shapes rejects inputs the step cannot take with a
// message naming them, before a trace is built for them.
void check_gated_delta_shapes(const std::vector<mx::array>& in) {
  const auto& q = in[0];
  const auto& g = in[3];
  auto bad = [](const std::string& what) {
    throw std::invalid_argument("gated_delta_step: " + what);
  };
  if (q.ndim() != 3 || in[1].shape() != q.shape()) {
    bad("q and k must both be [B, H, Dk]");
  }
  int b = q.shape(0), h = q.shape(1), dk = q.shape(2);
  const auto& v = in[2];
  if (v.ndim() != 3 || v.shape(0) != b || v.shape(1) != h) {
    bad("v must be [B, H, Dv] with q's B and H");
  }
  int dv = v.shape(2);
  bool g_ok = (g.ndim() == 2 && g.shape() == mx::Shape{b, h}) ||
              (g.ndim() == 3 && g.shape() == mx::Shape{b, h, dk});
  if (!g_ok) bad("g must be [B, H] or [B, H, Dk]");
  if (in[4].shape() != mx::Shape{b, h}) bad("beta must be [B, H]");
  if (in[5].shape() != mx::Shape{b, h, dv, dk}) {
    bad("state must be [B, H, Dv, Dk]");
  }
  if (in.size() > 6 && in[6].shape() != mx::Shape{b}) bad("mask must be [B]");
}

// strings reads n C strings.
std::vector<std::string> strings(const char* const* p, int64_t n) {
  std::vector<std::string> v;
  v.reserve(n);
  for (int64_t i = 0; i < n; i++) {
    if (!p[i]) throw std::invalid_argument("null string in a name list");
    v.emplace_back(p[i]);
  }
  return v;
}

// kernel is the custom kernel behind a handle.
mx::fast::CustomKernelFunction& kernel(lmx_kernel k) {
  if (!k) throw std::invalid_argument("null kernel handle");
  return *static_cast<mx::fast::CustomKernelFunction*>(k);
}

// template_args reads lmx_kernel_call's template arguments.
std::vector<std::pair<std::string, mx::fast::TemplateArg>> template_args(
    const char* const* names, const int32_t* kinds, const int32_t* values,
    int64_t n) {
  auto keys = strings(names, n);
  std::vector<std::pair<std::string, mx::fast::TemplateArg>> out;
  for (int64_t i = 0; i < n; i++) {
    switch (kinds[i]) {
      case LMX_TEMPLATE_INT:
        out.emplace_back(keys[i], int(values[i]));
        break;
      case LMX_TEMPLATE_BOOL:
        out.emplace_back(keys[i], values[i] != 0);
        break;
      case LMX_TEMPLATE_DTYPE:
        out.emplace_back(keys[i], dtype(values[i]));
        break;
      default:
        throw std::invalid_argument("template argument " + keys[i] +
                                    ": unknown kind " +
                                    std::to_string(kinds[i]));
    }
  }
  return out;
}

}  // namespace

extern "C" {

int lmx_rms_norm(lmx_array* out, lmx_array x, lmx_array w, uint64_t eps) {
  return guard([&] {
    give(out, mx::fast::rms_norm(arr(x), opt(w), float(f64(eps))));
  });
}

int lmx_layer_norm(lmx_array* out, lmx_array x, lmx_array w, lmx_array b,
                   uint64_t eps) {
  return guard([&] {
    give(out, mx::fast::layer_norm(arr(x), opt(w), opt(b), float(f64(eps))));
  });
}

int lmx_rope(lmx_array* out, lmx_array x, int32_t dims, int32_t traditional,
             uint64_t base, uint64_t scale, int32_t offset, lmx_array offsets,
             lmx_array freqs) {
  return guard([&] {
    // MLX accepts either a base or custom frequencies, never both.
    auto f = opt(freqs);
    std::optional<float> b;
    if (!f) b = float(f64(base));
    float s = float(f64(scale));
    if (offsets) {
      give(out, mx::fast::rope(arr(x), dims, traditional != 0, b, s,
                               arr(offsets), f));
    } else {
      give(out,
           mx::fast::rope(arr(x), dims, traditional != 0, b, s, offset, f));
    }
  });
}

int lmx_sdpa(lmx_array* out, lmx_array q, lmx_array k, lmx_array v,
             uint64_t scale, const char* mask_mode, lmx_array mask) {
  return guard([&] {
    give(out, mx::fast::scaled_dot_product_attention(
                  arr(q), arr(k), arr(v), float(f64(scale)),
                  mask_mode ? mask_mode : "", opt(mask)));
  });
}

int lmx_sdpa_sinks(lmx_array* out, lmx_array q, lmx_array k, lmx_array v,
                   uint64_t scale, const char* mask_mode, lmx_array mask,
                   lmx_array sinks) {
  return guard([&] {
    // A separate entry point so lmx_sdpa's ABI stays as every caller knows it.
    give(out, mx::fast::scaled_dot_product_attention(
                  arr(q), arr(k), arr(v), float(f64(scale)),
                  mask_mode ? mask_mode : "", opt(mask), arr(sinks)));
  });
}

int lmx_swiglu_oai(lmx_array* out, lmx_array gate, lmx_array x) {
  return guard([&] {
    // Compiled shapeless as mlx_lm compiles it: one kernel per call instead
    // of eight, for every layer of every decode step.
    static const auto f = mx::compile(swiglu_oai_fn, /*shapeless=*/true);
    give(out, f({arr(gate), arr(x)})[0]);
  });
}

int lmx_gated_delta_step(lmx_array* outs, lmx_array q, lmx_array k,
                         lmx_array v, lmx_array g, lmx_array beta,
                         lmx_array state, lmx_array mask) {
  return guard([&] {
    // Compiled as mlx_lm compiles _gated_delta_step_ops (not shapeless: its
    // graph depends on g's rank), one trace per shape and dtype: a decode
    // step then launches a few fused kernels instead of about a dozen.
    // The mask is a seventh input when present; MLX keys its traces on
    // the inputs, so masked and unmasked steps get traces of their own.
    static const auto f = mx::compile(gated_delta_step_fn);
    std::vector<mx::array> in = {arr(q),    arr(k),    arr(v),
                                 arr(g),    arr(beta), arr(state)};
    if (mask) in.push_back(arr(mask));
    check_gated_delta_shapes(in);
    auto res = f(in);
    give(&outs[0], res[0]);
    give(&outs[1], res[1]);
  });
}

int lmx_metal_kernel(lmx_kernel* out, const char* name,
                     const char* const* input_names, int64_t n_in,
                     const char* const* output_names, int64_t n_out,
                     const char* source, const char* header,
                     int32_t ensure_row_contiguous, int32_t atomic_outputs) {
  return guard([&] {
    auto f = mx::fast::metal_kernel(
        name ? name : "", strings(input_names, n_in),
        strings(output_names, n_out), source ? source : "",
        header ? header : "", ensure_row_contiguous != 0, atomic_outputs != 0);
    *out = new mx::fast::CustomKernelFunction(std::move(f));
  });
}

int lmx_cuda_kernel(lmx_kernel* out, const char* name,
                    const char* const* input_names, int64_t n_in,
                    const char* const* output_names, int64_t n_out,
                    const char* source, const char* header,
                    int32_t ensure_row_contiguous, int32_t shared_memory) {
  return guard([&] {
    auto f = mx::fast::cuda_kernel(
        name ? name : "", strings(input_names, n_in),
        strings(output_names, n_out), source ? source : "",
        header ? header : "", ensure_row_contiguous != 0, shared_memory);
    *out = new mx::fast::CustomKernelFunction(std::move(f));
  });
}

int lmx_kernel_free(lmx_kernel k) {
  return guard([&] { delete static_cast<mx::fast::CustomKernelFunction*>(k); });
}

int lmx_kernel_call(lmx_array* outs, lmx_kernel k, const lmx_array* inputs,
                    int64_t n_in, const int32_t* out_shapes,
                    const int32_t* out_ndims, const int32_t* out_dtypes,
                    int64_t n_out, const int32_t* dims,
                    const char* const* tmpl_names, const int32_t* tmpl_kinds,
                    const int32_t* tmpl_values, int64_t n_tmpl,
                    const float* init_value) {
  return guard([&] {
    std::vector<mx::Shape> shapes;
    std::vector<mx::Dtype> dtypes;
    for (int64_t i = 0, at = 0; i < n_out; at += out_ndims[i], i++) {
      shapes.push_back(shape(out_shapes + at, out_ndims[i]));
      dtypes.push_back(dtype(out_dtypes[i]));
    }
    std::optional<float> init;
    if (init_value) init = *init_value;
    auto res = kernel(k)(arrays(inputs, n_in), shapes, dtypes,
                         {dims[0], dims[1], dims[2]},
                         {dims[3], dims[4], dims[5]},
                         template_args(tmpl_names, tmpl_kinds, tmpl_values,
                                       n_tmpl),
                         init, /*verbose=*/false, {});
    if (int64_t(res.size()) != n_out) {
      throw std::invalid_argument("kernel returned " +
                                  std::to_string(res.size()) +
                                  " outputs, expected " + std::to_string(n_out));
    }
    for (int64_t i = 0; i < n_out; i++) give(&outs[i], res[i]);
  });
}

}  // extern "C"
