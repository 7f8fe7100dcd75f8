// ops.cpp — elementwise ops, reductions, sorting and matrix products.
#include "internal.h"

using namespace lmx;

namespace {

mx::array unary(int32_t op, const mx::array& a) {
  switch (op) {
    case LMX_NEGATIVE: return mx::negative(a);
    case LMX_EXP: return mx::exp(a);
    case LMX_LOG: return mx::log(a);
    case LMX_SQRT: return mx::sqrt(a);
    case LMX_RSQRT: return mx::rsqrt(a);
    case LMX_SQUARE: return mx::square(a);
    case LMX_ABS: return mx::abs(a);
    case LMX_TANH: return mx::tanh(a);
    case LMX_SIGMOID: return mx::sigmoid(a);
    case LMX_SIN: return mx::sin(a);
    case LMX_COS: return mx::cos(a);
    case LMX_ERF: return mx::erf(a);
    case LMX_LOG1P: return mx::log1p(a);
    case LMX_RECIPROCAL: return mx::reciprocal(a);
    case LMX_FLOOR: return mx::floor(a);
    case LMX_LOGICAL_NOT: return mx::logical_not(a);
    case LMX_CONTIGUOUS: return mx::contiguous(a);
    case LMX_STOP_GRADIENT: return mx::stop_gradient(a);
  }
  throw std::invalid_argument("unknown unary op " + std::to_string(op));
}

mx::array binary(int32_t op, const mx::array& a, const mx::array& b) {
  switch (op) {
    case LMX_ADD: return mx::add(a, b);
    case LMX_SUBTRACT: return mx::subtract(a, b);
    case LMX_MULTIPLY: return mx::multiply(a, b);
    case LMX_DIVIDE: return mx::divide(a, b);
    case LMX_MAXIMUM: return mx::maximum(a, b);
    case LMX_MINIMUM: return mx::minimum(a, b);
    case LMX_POWER: return mx::power(a, b);
    case LMX_GREATER: return mx::greater(a, b);
    case LMX_GREATER_EQUAL: return mx::greater_equal(a, b);
    case LMX_LESS: return mx::less(a, b);
    case LMX_LESS_EQUAL: return mx::less_equal(a, b);
    case LMX_EQUAL: return mx::equal(a, b);
    case LMX_NOT_EQUAL: return mx::not_equal(a, b);
    case LMX_LOGICAL_AND: return mx::logical_and(a, b);
    case LMX_LOGICAL_OR: return mx::logical_or(a, b);
    case LMX_MATMUL: return mx::matmul(a, b);
    case LMX_RIGHT_SHIFT: return mx::right_shift(a, b);
    case LMX_BITWISE_AND: return mx::bitwise_and(a, b);
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(op));
}

mx::array reduce(int32_t op, const mx::array& a, const std::vector<int>& ax,
                 bool keep) {
  switch (op) {
    case LMX_R_SUM: return mx::sum(a, ax, keep);
    case LMX_R_MEAN: return mx::mean(a, ax, keep);
    case LMX_R_MAX: return mx::max(a, ax, keep);
    case LMX_R_MIN: return mx::min(a, ax, keep);
    case LMX_R_LOGSUMEXP: return mx::logsumexp(a, ax, keep);
  }
  throw std::invalid_argument("unknown reduction " + std::to_string(op));
}

std::vector<int> all_axes(const mx::array& a) {
  std::vector<int> ax(a.ndim());
  for (size_t i = 0; i < ax.size(); i++) ax[i] = int(i);
  return ax;
}

}  // namespace

extern "C" {

int lmx_unary(lmx_array* out, int32_t op, lmx_array a) {
  return guard([&] { give(out, unary(op, arr(a))); });
}

int lmx_binary(lmx_array* out, int32_t op, lmx_array a, lmx_array b) {
  return guard([&] { give(out, binary(op, arr(a), arr(b))); });
}

int lmx_binary_scalar(lmx_array* out, int32_t op, lmx_array a,
                      uint64_t value) {
  return guard([&] {
    auto& x = arr(a);
    give(out, binary(op, x, mx::array(f64(value), x.dtype())));
  });
}

int lmx_where(lmx_array* out, lmx_array c, lmx_array a, lmx_array b) {
  return guard([&] { give(out, mx::where(arr(c), arr(a), arr(b))); });
}

int lmx_reduce(lmx_array* out, int32_t op, lmx_array a, const int32_t* axes,
               int64_t naxes, int32_t keepdims) {
  return guard([&] {
    auto& x = arr(a);
    auto ax = naxes > 0 ? ints(axes, naxes) : all_axes(x);
    give(out, reduce(op, x, ax, keepdims != 0));
  });
}

int lmx_arg_reduce(lmx_array* out, int32_t op, lmx_array a, int32_t axis,
                   int32_t keepdims) {
  return guard([&] {
    auto& x = arr(a);
    if (op == LMX_ARGMAX) {
      give(out, mx::argmax(x, axis, keepdims != 0));
    } else if (op == LMX_ARGMIN) {
      give(out, mx::argmin(x, axis, keepdims != 0));
    } else {
      throw std::invalid_argument("unknown arg reduction");
    }
  });
}

int lmx_softmax(lmx_array* out, lmx_array a, int32_t axis) {
  return guard([&] { give(out, mx::softmax(arr(a), axis, /*precise=*/true)); });
}

int lmx_cumsum(lmx_array* out, lmx_array a, int32_t axis, int32_t reverse,
               int32_t inclusive) {
  return guard([&] {
    give(out, mx::cumsum(arr(a), axis, reverse != 0, inclusive != 0));
  });
}

int lmx_sort_op(lmx_array* out, int32_t op, lmx_array a, int32_t k,
                int32_t axis) {
  return guard([&] {
    auto& x = arr(a);
    switch (op) {
      case LMX_SORT: give(out, mx::sort(x, axis)); return;
      case LMX_ARGSORT: give(out, mx::argsort(x, axis)); return;
      case LMX_ARGPARTITION: give(out, mx::argpartition(x, k, axis)); return;
      case LMX_TOPK: give(out, mx::topk(x, k, axis)); return;
    }
    throw std::invalid_argument("unknown sort op");
  });
}

int lmx_addmm(lmx_array* out, lmx_array c, lmx_array a, lmx_array b,
              uint64_t alpha, uint64_t beta) {
  return guard([&] {
    give(out, mx::addmm(arr(c), arr(a), arr(b), float(f64(alpha)),
                        float(f64(beta))));
  });
}

}  // extern "C"
