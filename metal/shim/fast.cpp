// fast.cpp — MLX's fused transformer kernels (mlx::core::fast).
#include "internal.h"

using namespace lmx;

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

}  // extern "C"
