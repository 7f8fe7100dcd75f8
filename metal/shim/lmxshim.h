// lmxshim.h — the C ABI LMX's Go code (package metal) calls through purego.
//
// Conventions, shared by every function:
//   * The return value is a status: 0 on success, nonzero on failure; then
//     lmx_last_error() returns the message (per thread, valid until the next
//     failing call on that thread).
//   * Results come back through out-pointers. Arrays are opaque handles
//     (lmx_array, a heap-allocated mlx::core::array); every handle a function
//     returns is owned by the caller, who releases it with lmx_free_arrays.
//   * Optional array arguments are NULL when absent.
//   * Floating-point parameters travel as the IEEE-754 bit pattern of a double
//     in a uint64_t (purego.SyscallN only fills integer registers).
//   * Shapes and axis lists are int32_t arrays with an explicit length.
//   * Nothing here exits or aborts: every C++ exception is caught.
#ifndef LMXSHIM_H
#define LMXSHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LMX_API __attribute__((visibility("default")))

typedef void* lmx_array;

// Op codes of lmx_unary.
enum {
  LMX_NEGATIVE, LMX_EXP, LMX_LOG, LMX_SQRT, LMX_RSQRT, LMX_SQUARE, LMX_ABS,
  LMX_TANH, LMX_SIGMOID, LMX_SIN, LMX_COS, LMX_ERF, LMX_LOG1P,
  LMX_RECIPROCAL, LMX_FLOOR, LMX_LOGICAL_NOT, LMX_CONTIGUOUS,
  LMX_STOP_GRADIENT,
};

// Op codes of lmx_binary.
enum {
  LMX_ADD, LMX_SUBTRACT, LMX_MULTIPLY, LMX_DIVIDE, LMX_MAXIMUM, LMX_MINIMUM,
  LMX_POWER, LMX_GREATER, LMX_GREATER_EQUAL, LMX_LESS, LMX_LESS_EQUAL,
  LMX_EQUAL, LMX_NOT_EQUAL, LMX_LOGICAL_AND, LMX_LOGICAL_OR, LMX_MATMUL, LMX_RIGHT_SHIFT, LMX_BITWISE_AND,
};

// Op codes of lmx_reduce (LMX_R_*) and lmx_arg_reduce (LMX_ARGMAX/ARGMIN).
enum { LMX_R_SUM, LMX_R_MEAN, LMX_R_MAX, LMX_R_MIN, LMX_R_LOGSUMEXP };
enum { LMX_ARGMAX, LMX_ARGMIN };

// Op codes of lmx_sort_op.
enum { LMX_SORT, LMX_ARGSORT, LMX_ARGPARTITION, LMX_TOPK };

// --- array.cpp: errors, lifetime, creation, inspection, evaluation ---
LMX_API const char* lmx_last_error(void);
LMX_API const char* lmx_version(void);
LMX_API int lmx_free_arrays(const lmx_array* arrs, int64_t n);
LMX_API int lmx_from_data(lmx_array* out, const void* data,
                          const int32_t* shape, int64_t ndim, int32_t dtype);
LMX_API int lmx_full(lmx_array* out, const int32_t* shape, int64_t ndim,
                     uint64_t value, int32_t dtype);
LMX_API int lmx_arange(lmx_array* out, uint64_t start, uint64_t stop,
                       uint64_t step, int32_t dtype);
// lmx_describe writes dtype, ndim, then ndim dims into desc (capacity cap).
LMX_API int lmx_describe(lmx_array a, int32_t* desc, int64_t cap);
// lmx_copy_out evaluates a and copies its nbytes row-major bytes into dst.
LMX_API int lmx_copy_out(lmx_array a, void* dst, int64_t nbytes);
LMX_API int lmx_eval(const lmx_array* arrs, int64_t n, int32_t async);

// --- ops.cpp: elementwise, reductions, sorting, linear algebra ---
LMX_API int lmx_unary(lmx_array* out, int32_t op, lmx_array a);
LMX_API int lmx_binary(lmx_array* out, int32_t op, lmx_array a, lmx_array b);
// lmx_binary_scalar applies a binary op with value as a scalar of a's dtype.
LMX_API int lmx_binary_scalar(lmx_array* out, int32_t op, lmx_array a,
                              uint64_t value);
LMX_API int lmx_where(lmx_array* out, lmx_array cond, lmx_array a,
                      lmx_array b);
// lmx_reduce reduces over axes; naxes == 0 reduces over all axes.
LMX_API int lmx_reduce(lmx_array* out, int32_t op, lmx_array a,
                       const int32_t* axes, int64_t naxes, int32_t keepdims);
LMX_API int lmx_arg_reduce(lmx_array* out, int32_t op, lmx_array a,
                           int32_t axis, int32_t keepdims);
LMX_API int lmx_softmax(lmx_array* out, lmx_array a, int32_t axis);
LMX_API int lmx_cumsum(lmx_array* out, lmx_array a, int32_t axis,
                       int32_t reverse, int32_t inclusive);
// lmx_sort_op: k is kth for ARGPARTITION and k for TOPK, unused otherwise.
LMX_API int lmx_sort_op(lmx_array* out, int32_t op, lmx_array a, int32_t k,
                        int32_t axis);
LMX_API int lmx_addmm(lmx_array* out, lmx_array c, lmx_array a, lmx_array b,
                      uint64_t alpha, uint64_t beta);

// --- shape.cpp: shape, slicing, joining, gathering ---
LMX_API int lmx_reshape(lmx_array* out, lmx_array a, const int32_t* shape,
                        int64_t ndim);
// lmx_transpose with naxes == 0 reverses the axes.
LMX_API int lmx_transpose(lmx_array* out, lmx_array a, const int32_t* axes,
                          int64_t naxes);
LMX_API int lmx_swapaxes(lmx_array* out, lmx_array a, int32_t i, int32_t j);
LMX_API int lmx_expand_dims(lmx_array* out, lmx_array a, int32_t axis);
// lmx_squeeze with naxes == 0 removes every size-1 axis.
LMX_API int lmx_squeeze(lmx_array* out, lmx_array a, const int32_t* axes,
                        int64_t naxes);
LMX_API int lmx_astype(lmx_array* out, lmx_array a, int32_t dtype);
LMX_API int lmx_broadcast_to(lmx_array* out, lmx_array a,
                             const int32_t* shape, int64_t ndim);
LMX_API int lmx_flatten(lmx_array* out, lmx_array a, int32_t start,
                        int32_t end);
// lmx_slice: start, stop, strides each hold ndim values.
LMX_API int lmx_slice(lmx_array* out, lmx_array a, const int32_t* start,
                      const int32_t* stop, const int32_t* strides,
                      int64_t ndim);
LMX_API int lmx_slice_update(lmx_array* out, lmx_array src, lmx_array update,
                             const int32_t* start, const int32_t* stop,
                             const int32_t* strides, int64_t ndim);
LMX_API int lmx_concatenate(lmx_array* out, const lmx_array* arrs, int64_t n,
                            int32_t axis, int32_t stack);
// lmx_split writes n_out handles into outs: at indices (nidx > 0) or into
// `parts` equal parts (nidx == 0).
LMX_API int lmx_split(lmx_array* outs, int64_t n_out, lmx_array a,
                      const int32_t* indices, int64_t nidx, int32_t parts,
                      int32_t axis);
LMX_API int lmx_take(lmx_array* out, lmx_array a, lmx_array idx, int32_t axis,
                     int32_t along_axis);
LMX_API int lmx_put_along_axis(lmx_array* out, lmx_array a, lmx_array idx,
                               lmx_array values, int32_t axis);
LMX_API int lmx_tri(lmx_array* out, lmx_array a, int32_t k, int32_t upper);
// lmx_pad pads every axis by low[i], high[i] with a constant value.
LMX_API int lmx_pad(lmx_array* out, lmx_array a, const int32_t* low,
                    const int32_t* high, int64_t ndim, uint64_t value);

// --- fast.cpp: fused transformer kernels ---
LMX_API int lmx_rms_norm(lmx_array* out, lmx_array x, lmx_array w,
                         uint64_t eps);
LMX_API int lmx_layer_norm(lmx_array* out, lmx_array x, lmx_array w,
                           lmx_array b, uint64_t eps);
// lmx_rope: offsets (int32 array) replaces offset when not NULL; freqs
// replaces base when not NULL.
LMX_API int lmx_rope(lmx_array* out, lmx_array x, int32_t dims,
                     int32_t traditional, uint64_t base, uint64_t scale,
                     int32_t offset, lmx_array offsets, lmx_array freqs);
// lmx_sdpa: mask_mode is "", "causal" or "array" (then mask is required).
LMX_API int lmx_sdpa(lmx_array* out, lmx_array q, lmx_array k, lmx_array v,
                     uint64_t scale, const char* mask_mode, lmx_array mask);
// lmx_sdpa_sinks is lmx_sdpa with sinks (required): one logit per query head
// that joins each softmax's denominator (gpt-oss).
LMX_API int lmx_sdpa_sinks(lmx_array* out, lmx_array q, lmx_array k,
                           lmx_array v, uint64_t scale, const char* mask_mode,
                           lmx_array mask, lmx_array sinks);
// lmx_swiglu_oai is gpt-oss's clamped SwiGLU as one compiled kernel:
// (clip(x, -7, 7) + 1) · g·σ(1.702·g), g = min(gate, 7).
LMX_API int lmx_swiglu_oai(lmx_array* out, lmx_array gate, lmx_array x);

// Custom kernels (mx::fast::metal_kernel, mx::fast::cuda_kernel): source is
// the body of a kernel whose parameters are the named inputs (and, when the
// source mentions them, <name>_shape, _strides, _ndim) and outputs. On a
// build without that backend MLX's error comes when a CUDA kernel is
// created, or when a Metal kernel is called (its builder only records the
// source). The caller frees a kernel with lmx_kernel_free.
typedef void* lmx_kernel;

// Kinds of lmx_kernel_call's template arguments.
enum { LMX_TEMPLATE_INT, LMX_TEMPLATE_BOOL, LMX_TEMPLATE_DTYPE };

LMX_API int lmx_metal_kernel(lmx_kernel* out, const char* name,
                             const char* const* input_names, int64_t n_in,
                             const char* const* output_names, int64_t n_out,
                             const char* source, const char* header,
                             int32_t ensure_row_contiguous,
                             int32_t atomic_outputs);
LMX_API int lmx_cuda_kernel(lmx_kernel* out, const char* name,
                            const char* const* input_names, int64_t n_in,
                            const char* const* output_names, int64_t n_out,
                            const char* source, const char* header,
                            int32_t ensure_row_contiguous,
                            int32_t shared_memory);
LMX_API int lmx_kernel_free(lmx_kernel k);
// lmx_kernel_call runs k on inputs: output i has dtype code out_dtypes[i]
// and the next out_ndims[i] entries of out_shapes as its shape; dims is the
// grid (threads, x y z) then the threadgroup (x y z); template argument j
// is named tmpl_names[j], of kind tmpl_kinds[j] with value tmpl_values[j]
// (an int, 0/1, or a dtype code); init_value (NULL: none) fills every
// output before the kernel runs. outs receives n_out handles.
LMX_API int lmx_kernel_call(lmx_array* outs, lmx_kernel k,
                            const lmx_array* inputs, int64_t n_in,
                            const int32_t* out_shapes, const int32_t* out_ndims,
                            const int32_t* out_dtypes, int64_t n_out,
                            const int32_t* dims, const char* const* tmpl_names,
                            const int32_t* tmpl_kinds,
                            const int32_t* tmpl_values, int64_t n_tmpl,
                            const float* init_value);

// --- compile.cpp: activations fused by mlx::core::compile ---
// lmx_swiglu is silu(gate)·x and lmx_geglu gelu_approx(gate)·x, each one
// fused kernel (unfused when compilation is disabled).
LMX_API int lmx_swiglu(lmx_array* out, lmx_array gate, lmx_array x);
LMX_API int lmx_geglu(lmx_array* out, lmx_array gate, lmx_array x);
// lmx_set_compile turns MLX's compilation on (nonzero) or off, process-wide.
LMX_API int lmx_set_compile(int32_t enabled);

// --- quant.cpp: quantization ---
// lmx_quantize writes wq, scales and biases (NULL for modes without biases).
LMX_API int lmx_quantize(lmx_array* outs, lmx_array w, int32_t group_size,
                         int32_t bits, const char* mode);
LMX_API int lmx_dequantize(lmx_array* out, lmx_array wq, lmx_array scales,
                           lmx_array biases, int32_t group_size, int32_t bits,
                           const char* mode);
LMX_API int lmx_quantized_matmul(lmx_array* out, lmx_array x, lmx_array wq,
                                 lmx_array scales, lmx_array biases,
                                 int32_t transpose, int32_t group_size,
                                 int32_t bits, const char* mode);
LMX_API int lmx_gather_qmm(lmx_array* out, lmx_array x, lmx_array wq,
                           lmx_array scales, lmx_array biases, lmx_array lhs,
                           lmx_array rhs, int32_t transpose,
                           int32_t group_size, int32_t bits, const char* mode,
                           int32_t sorted);
LMX_API int lmx_gather_mm(lmx_array* out, lmx_array a, lmx_array b,
                          lmx_array lhs, lmx_array rhs, int32_t sorted);

// --- random.cpp ---
LMX_API int lmx_random_key(lmx_array* out, uint64_t seed);
LMX_API int lmx_random_split(lmx_array* out, lmx_array key, int32_t n);
LMX_API int lmx_categorical(lmx_array* out, lmx_array logits, int32_t axis,
                            lmx_array key);
LMX_API int lmx_random_uniform(lmx_array* out, const int32_t* shape,
                               int64_t ndim, int32_t dtype, lmx_array key);

// --- io.cpp: safetensors ---
typedef void* lmx_tensors;
// lmx_load_safetensors loads a file lazily; the result lists arrays and
// metadata until lmx_tensors_free.
LMX_API int lmx_load_safetensors(lmx_tensors* out, const char* path,
                                 int64_t* n_arrays, int64_t* n_meta);
// lmx_tensors_array hands over array i (caller owns it) and its name.
LMX_API int lmx_tensors_array(lmx_tensors t, int64_t i, const char** name,
                              lmx_array* arr);
LMX_API int lmx_tensors_meta(lmx_tensors t, int64_t i, const char** key,
                             const char** value);
LMX_API int lmx_tensors_free(lmx_tensors t);
// lmx_save_safetensors: names, keys and values are NUL-separated strings
// packed back to back (n_arrays names, n_meta keys and values).
LMX_API int lmx_save_safetensors(const char* path, const char* names,
                                 const lmx_array* arrs, int64_t n_arrays,
                                 const char* keys, const char* values,
                                 int64_t n_meta);

// --- memory.cpp: memory, devices ---
// lmx_memory reads MLX allocator counters into out[0..3]: active, peak,
// cache, memory limit.
LMX_API int lmx_memory(uint64_t* out);
LMX_API int lmx_reset_peak_memory(void);
LMX_API int lmx_clear_cache(void);
// lmx_set_limit sets the memory (0), cache (1) or wired (2) limit; *prev
// receives the previous value.
LMX_API int lmx_set_limit(int32_t which, uint64_t bytes, uint64_t* prev);
// Device types: 0 cpu, 1 gpu.
LMX_API int lmx_default_device(int32_t* type, int32_t* index);
LMX_API int lmx_set_default_device(int32_t type, int32_t index);
LMX_API int lmx_device_available(int32_t type, int32_t index, int32_t* ok);
// lmx_device_info returns a JSON object (valid until the next call).
LMX_API int lmx_device_info(int32_t type, int32_t index, const char** json);
LMX_API int lmx_synchronize(void);

// --- dist.cpp: distributed groups and collectives ---
typedef void* lmx_group;
// Op codes of lmx_collective.
enum { LMX_ALL_SUM, LMX_ALL_GATHER, LMX_ALL_MAX, LMX_ALL_MIN };
// lmx_dist_available: backend is "ring", "jaccl", "mpi", "nccl" or "any".
LMX_API int lmx_dist_available(const char* backend, int32_t* ok);
// lmx_dist_init joins the group the backend's configuration describes (for
// ring: MLX_RANK and MLX_HOSTFILE). strict fails when it cannot; otherwise a
// group of one comes back. Free the handle with lmx_group_free.
LMX_API int lmx_dist_init(lmx_group* out, int32_t strict, const char* backend);
// lmx_dist_clear forgets the initialized backends (a later init joins anew).
LMX_API int lmx_dist_clear(void);
LMX_API int lmx_group_free(lmx_group g);
LMX_API int lmx_group_info(lmx_group g, int32_t* rank, int32_t* size);
LMX_API int lmx_group_split(lmx_group* out, lmx_group g, int32_t color,
                            int32_t key);
LMX_API int lmx_collective(lmx_array* out, int32_t op, lmx_array x,
                           lmx_group g);
// lmx_send's result is evaluated to send; lmx_recv's to receive.
LMX_API int lmx_send(lmx_array* out, lmx_array x, int32_t dst, lmx_group g);
LMX_API int lmx_recv(lmx_array* out, const int32_t* shape, int64_t ndim,
                     int32_t dtype, int32_t src, lmx_group g);

// --- fast.cpp: the Gated DeltaNet recurrence ---
// lmx_gated_delta_step is one step of the gated delta rule (mlx_lm's
// _gated_delta_step_ops) compiled by mlx::core::compile: q, k [B, H, Dk],
// v [B, H, Dv], g [B, H] or [B, H, Dk], beta [B, H], state [B, H, Dv, Dk],
// mask bool [B] or NULL (false keeps the old state). outs receives y
// [B, H, Dv] in q's dtype and the new state.
LMX_API int lmx_gated_delta_step(lmx_array* outs, lmx_array q, lmx_array k,
                                 lmx_array v, lmx_array g, lmx_array beta,
                                 lmx_array state, lmx_array mask);

#ifdef __cplusplus
}
#endif

#endif
