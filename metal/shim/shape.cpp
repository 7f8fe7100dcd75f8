// shape.cpp — reshaping, slicing, joining and gathering.
#include "internal.h"

using namespace lmx;

extern "C" {

int lmx_reshape(lmx_array* out, lmx_array a, const int32_t* shp,
                int64_t ndim) {
  return guard([&] { give(out, mx::reshape(arr(a), shape(shp, ndim))); });
}

int lmx_transpose(lmx_array* out, lmx_array a, const int32_t* axes,
                  int64_t naxes) {
  return guard([&] {
    give(out, naxes == 0 ? mx::transpose(arr(a))
                         : mx::transpose(arr(a), ints(axes, naxes)));
  });
}

int lmx_swapaxes(lmx_array* out, lmx_array a, int32_t i, int32_t j) {
  return guard([&] { give(out, mx::swapaxes(arr(a), i, j)); });
}

int lmx_expand_dims(lmx_array* out, lmx_array a, int32_t axis) {
  return guard([&] { give(out, mx::expand_dims(arr(a), axis)); });
}

int lmx_squeeze(lmx_array* out, lmx_array a, const int32_t* axes,
                int64_t naxes) {
  return guard([&] {
    give(out, naxes == 0 ? mx::squeeze(arr(a))
                         : mx::squeeze(arr(a), ints(axes, naxes)));
  });
}

int lmx_astype(lmx_array* out, lmx_array a, int32_t dt) {
  return guard([&] { give(out, mx::astype(arr(a), dtype(dt))); });
}

int lmx_broadcast_to(lmx_array* out, lmx_array a, const int32_t* shp,
                     int64_t ndim) {
  return guard([&] { give(out, mx::broadcast_to(arr(a), shape(shp, ndim))); });
}

int lmx_flatten(lmx_array* out, lmx_array a, int32_t start, int32_t end) {
  return guard([&] { give(out, mx::flatten(arr(a), start, end)); });
}

int lmx_slice(lmx_array* out, lmx_array a, const int32_t* start,
              const int32_t* stop, const int32_t* strides, int64_t ndim) {
  return guard([&] {
    give(out, mx::slice(arr(a), shape(start, ndim), shape(stop, ndim),
                        shape(strides, ndim)));
  });
}

int lmx_slice_update(lmx_array* out, lmx_array src, lmx_array update,
                     const int32_t* start, const int32_t* stop,
                     const int32_t* strides, int64_t ndim) {
  return guard([&] {
    give(out, mx::slice_update(arr(src), arr(update), shape(start, ndim),
                               shape(stop, ndim), shape(strides, ndim)));
  });
}

int lmx_concatenate(lmx_array* out, const lmx_array* arrs, int64_t n,
                    int32_t axis, int32_t stack) {
  return guard([&] {
    auto v = arrays(arrs, n);
    give(out, stack ? mx::stack(v, axis) : mx::concatenate(std::move(v), axis));
  });
}

int lmx_split(lmx_array* outs, int64_t n_out, lmx_array a,
              const int32_t* indices, int64_t nidx, int32_t parts,
              int32_t axis) {
  return guard([&] {
    auto parts_v = nidx > 0 ? mx::split(arr(a), shape(indices, nidx), axis)
                            : mx::split(arr(a), parts, axis);
    if (int64_t(parts_v.size()) != n_out) {
      throw std::invalid_argument("split: expected " + std::to_string(n_out) +
                                  " parts, got " +
                                  std::to_string(parts_v.size()));
    }
    for (int64_t i = 0; i < n_out; i++) give(&outs[i], parts_v[i]);
  });
}

int lmx_take(lmx_array* out, lmx_array a, lmx_array idx, int32_t axis,
             int32_t along_axis) {
  return guard([&] {
    give(out, along_axis ? mx::take_along_axis(arr(a), arr(idx), axis)
                         : mx::take(arr(a), arr(idx), axis));
  });
}

int lmx_put_along_axis(lmx_array* out, lmx_array a, lmx_array idx,
                       lmx_array values, int32_t axis) {
  return guard([&] {
    give(out, mx::put_along_axis(arr(a), arr(idx), arr(values), axis));
  });
}

int lmx_tri(lmx_array* out, lmx_array a, int32_t k, int32_t upper) {
  return guard([&] {
    give(out, upper ? mx::triu(arr(a), k) : mx::tril(arr(a), k));
  });
}

int lmx_pad(lmx_array* out, lmx_array a, const int32_t* low,
            const int32_t* high, int64_t ndim, uint64_t value) {
  return guard([&] {
    auto& x = arr(a);
    std::vector<int> axes(ndim);
    for (int64_t i = 0; i < ndim; i++) axes[i] = int(i);
    give(out, mx::pad(x, axes, shape(low, ndim), shape(high, ndim),
                      mx::array(f64(value), x.dtype())));
  });
}

}  // extern "C"
