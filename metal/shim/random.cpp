// random.cpp — explicit-key random numbers (no hidden global PRNG state).
#include "internal.h"

using namespace lmx;

extern "C" {

int lmx_random_key(lmx_array* out, uint64_t seed) {
  return guard([&] { give(out, mx::random::key(seed)); });
}

int lmx_random_split(lmx_array* out, lmx_array key, int32_t n) {
  return guard([&] { give(out, mx::random::split(arr(key), n)); });
}

int lmx_categorical(lmx_array* out, lmx_array logits, int32_t axis,
                    lmx_array key) {
  return guard([&] {
    give(out, mx::random::categorical(arr(logits), axis, opt(key)));
  });
}

int lmx_random_uniform(lmx_array* out, const int32_t* shp, int64_t ndim,
                       int32_t dt, lmx_array key) {
  return guard([&] {
    give(out, mx::random::uniform(shape(shp, ndim), dtype(dt), opt(key)));
  });
}

}  // extern "C"
