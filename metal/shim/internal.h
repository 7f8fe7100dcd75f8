// internal.h — helpers shared by the shim's translation units.
#pragma once

#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "lmxshim.h"
#include "mlx/mlx.h"

namespace lmx {

namespace mx = mlx::core;

// set_error records msg as this thread's last error.
void set_error(const char* msg);

// guard runs fn, turning every exception into a nonzero status plus the
// last-error text. MLX reports failures by throwing; nothing may escape to Go.
template <typename F>
int guard(F&& fn) {
  try {
    fn();
    return 0;
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown C++ exception");
  }
  return 1;
}

// A null handle where an array is required is a caller bug, reported as an
// error rather than a crash.
inline const mx::array& arr(lmx_array h) {
  if (!h) throw std::invalid_argument("null array handle");
  return *static_cast<mx::array*>(h);
}

inline std::optional<mx::array> opt(lmx_array h) {
  if (!h) return std::nullopt;
  return *static_cast<mx::array*>(h);
}

// give hands a new heap array to the caller.
inline void give(lmx_array* out, mx::array a) {
  *out = new mx::array(std::move(a));
}

inline double f64(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

inline mx::Shape shape(const int32_t* p, int64_t n) {
  return mx::Shape(p, p + n);
}

inline std::vector<int> ints(const int32_t* p, int64_t n) {
  return std::vector<int>(p, p + n);
}

inline std::vector<mx::array> arrays(const lmx_array* p, int64_t n) {
  std::vector<mx::array> v;
  v.reserve(n);
  for (int64_t i = 0; i < n; i++) v.push_back(arr(p[i]));
  return v;
}

mx::Dtype dtype(int32_t code);

}  // namespace lmx
