// array.cpp — errors, lifetime, creation, inspection and evaluation.
#include <cstdlib>

#include "internal.h"

namespace lmx {

namespace {
thread_local std::string last_error;
}

void set_error(const char* msg) { last_error = msg ? msg : ""; }

// Codes follow mlx::core::Dtype::Val (bool_ .. complex64), as Go's Dtype does.
mx::Dtype dtype(int32_t code) {
  static const mx::Dtype table[] = {
      mx::bool_,   mx::uint8,   mx::uint16,   mx::uint32, mx::uint64,
      mx::int8,    mx::int16,   mx::int32,    mx::int64,  mx::float16,
      mx::float32, mx::float64, mx::bfloat16, mx::complex64};
  if (code < 0 || code >= int32_t(sizeof table / sizeof table[0])) {
    throw std::invalid_argument("unknown dtype code " + std::to_string(code));
  }
  return table[code];
}

}  // namespace lmx

using namespace lmx;

extern "C" {

const char* lmx_last_error(void) { return last_error.c_str(); }

const char* lmx_version(void) { return mx::version(); }

int lmx_free_arrays(const lmx_array* arrs, int64_t n) {
  return guard([&] {
    for (int64_t i = 0; i < n; i++) delete static_cast<mx::array*>(arrs[i]);
  });
}

int lmx_from_data(lmx_array* out, const void* data, const int32_t* shp,
                  int64_t ndim, int32_t dt) {
  return guard([&] {
    auto t = dtype(dt);
    auto s = shape(shp, ndim);
    size_t n = size_t(t.size());
    for (auto d : s) n *= size_t(d);
    // MLX may keep the buffer without copying, so it gets its own copy that
    // MLX frees through the deleter.
    void* buf = std::malloc(n ? n : 1);
    if (!buf) throw std::bad_alloc();
    std::memcpy(buf, data, n);
    give(out, mx::array(buf, std::move(s), t, [](void* p) { std::free(p); }));
  });
}

int lmx_full(lmx_array* out, const int32_t* shp, int64_t ndim, uint64_t value,
             int32_t dt) {
  return guard([&] {
    auto t = dtype(dt);
    give(out, mx::full(shape(shp, ndim), mx::array(f64(value), t), t));
  });
}

int lmx_arange(lmx_array* out, uint64_t start, uint64_t stop, uint64_t step,
               int32_t dt) {
  return guard([&] {
    give(out, mx::arange(f64(start), f64(stop), f64(step), dtype(dt)));
  });
}

int lmx_describe(lmx_array h, int32_t* desc, int64_t cap) {
  return guard([&] {
    auto& a = arr(h);
    if (int64_t(a.ndim()) + 2 > cap) {
      throw std::invalid_argument("array has too many dimensions");
    }
    desc[0] = int32_t(a.dtype().val());
    desc[1] = int32_t(a.ndim());
    for (size_t i = 0; i < a.ndim(); i++) desc[2 + i] = a.shape(i);
  });
}

int lmx_copy_out(lmx_array h, void* dst, int64_t nbytes) {
  return guard([&] {
    auto a = arr(h);
    if (int64_t(a.nbytes()) != nbytes) {
      throw std::invalid_argument("copy_out: buffer holds " +
                                  std::to_string(nbytes) + " bytes, array " +
                                  std::to_string(a.nbytes()));
    }
    a.eval();
    if (!a.flags().row_contiguous) {
      a = mx::contiguous(a);
      a.eval();
    }
    std::memcpy(dst, a.data<char>(), size_t(nbytes));
  });
}

int lmx_eval(const lmx_array* arrs, int64_t n, int32_t async) {
  return guard([&] {
    auto v = arrays(arrs, n);
    if (async) {
      mx::async_eval(std::move(v));
    } else {
      mx::eval(std::move(v));
    }
  });
}

}  // extern "C"
