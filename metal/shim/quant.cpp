// quant.cpp — quantization and (gathered) quantized matrix products.
#include "internal.h"

using namespace lmx;

extern "C" {

int lmx_quantize(lmx_array* outs, lmx_array w, int32_t group_size,
                 int32_t bits, const char* mode) {
  return guard([&] {
    auto r = mx::quantize(arr(w), group_size, bits, mode);
    give(&outs[0], r[0]);
    give(&outs[1], r[1]);
    outs[2] = nullptr;
    if (r.size() > 2) give(&outs[2], r[2]);
  });
}

int lmx_dequantize(lmx_array* out, lmx_array wq, lmx_array scales,
                   lmx_array biases, int32_t group_size, int32_t bits,
                   const char* mode) {
  return guard([&] {
    give(out, mx::dequantize(arr(wq), arr(scales), opt(biases), group_size,
                             bits, mode));
  });
}

int lmx_quantized_matmul(lmx_array* out, lmx_array x, lmx_array wq,
                         lmx_array scales, lmx_array biases, int32_t transpose,
                         int32_t group_size, int32_t bits, const char* mode) {
  return guard([&] {
    give(out, mx::quantized_matmul(arr(x), arr(wq), arr(scales), opt(biases),
                                   transpose != 0, group_size, bits, mode));
  });
}

int lmx_gather_qmm(lmx_array* out, lmx_array x, lmx_array wq,
                   lmx_array scales, lmx_array biases, lmx_array lhs,
                   lmx_array rhs, int32_t transpose, int32_t group_size,
                   int32_t bits, const char* mode, int32_t sorted) {
  return guard([&] {
    give(out, mx::gather_qmm(arr(x), arr(wq), arr(scales), opt(biases),
                             opt(lhs), opt(rhs), transpose != 0, group_size,
                             bits, mode, std::nullopt, sorted != 0));
  });
}

int lmx_gather_mm(lmx_array* out, lmx_array a, lmx_array b, lmx_array lhs,
                  lmx_array rhs, int32_t sorted) {
  return guard([&] {
    give(out, mx::gather_mm(arr(a), arr(b), opt(lhs), opt(rhs), sorted != 0));
  });
}

}  // extern "C"
