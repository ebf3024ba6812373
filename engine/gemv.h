/* gemv: the engine's own vector kernels: matrix-vector products for the single-token products of decode over
 * half-precision weights, which BLAS cannot read, the attention of one query token, and the exponentials of
 * softmax and SwiGLU. Weights are F32, F16 (IEEE binary16) or BF16, row-major
 * with a leading dimension, read as a prefix block (the elastic layout, model.h); inputs, outputs and every
 * accumulation are F32. One implementation per instruction set, chosen at run time: AVX-512F, AVX2 with FMA and
 * F16C, and portable C (the reference the others are tested against); gemv_isa_force restricts the choice for
 * tests and benchmarks. Results differ between instruction sets only by the order of F32 additions. */
#ifndef ELMS_GEMV_H
#define ELMS_GEMV_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dtype.h"

/* The kernels' instruction sets, in order of preference. */
typedef enum { GEMV_SCALAR = 0, GEMV_AVX2 = 1, GEMV_AVX512 = 2 } GemvIsa;


/* gemv_isa: the instruction set the kernels use now: the best this CPU supports, or less after gemv_isa_force. */
GemvIsa gemv_isa(void);
/* gemv_isa_name: "avx512", "avx2" or "scalar". */
const char *gemv_isa_name(GemvIsa isa);
/* gemv_isa_force: use at most isa from now on (the best supported one not above it); returns the one in use.
 * Not thread-safe: call it before starting threads that run kernels. */
GemvIsa gemv_isa_force(GemvIsa isa);

/* gemv_rows: y (m) = W[:m, :k] x (k), or y += when accumulate. W is (>= m, ldw) of type t; ldw >= k. */
void gemv_rows(float *y, const void *W, StDtype t, int ldw, const float *x, int m, int k, int accumulate);
/* gemv_cols: y (m) = x (k) . W[:k, :m] (that is W^T x), or y += when accumulate. W is (>= k, ldw) of type t;
 * ldw >= m (weights held as rows of inputs: a view's prefix of units is a prefix of rows). */
void gemv_cols(float *y, const void *W, StDtype t, int ldw, const float *x, int k, int m, int accumulate);
/* wtype_to_f32: out (rows, cols) = W[:rows, :cols] as F32 (W (>= rows, ldw) of type t), rows packed at stride
 * cols. Exact: every F16 and BF16 value is an F32 value. */
void wtype_to_f32(float *out, const void *W, StDtype t, int ldw, int rows, int cols);
/* f32_to_wtype: out (n) of type t = x (n) rounded to nearest even (F16 overflows to infinity, as f32_to_f16). */
void f32_to_wtype(void *out, StDtype t, const float *x, size_t n);

/* softmax_exp: x (n) = exp(x - max(x)), returning the sum of the results (n >= 1; 0 for n = 0): the softmax
 * before its division. The vector version agrees with expf within 2 ulp. */
float softmax_exp(float *x, int n);
/* swiglu_kernel: h (n) = silu(g) u = g / (1 + exp(-g)) u; h may be g or u. */
void swiglu_kernel(float *h, const float *g, const float *u, size_t n);

/* attention_decode: one query token of grouped-query attention over T cached positions (causal: all of them).
 * q (n_q*head_dim), k and v (T, n_kv*head_dim) with rep = n_q/n_kv query heads per KV group (group-major),
 * out (n_q*head_dim); scores: scratch of n_q*T floats. The same softmax(q k^T / sqrt(head_dim)) v as
 * attention_forward, without a BLAS call per head; K and V are each read once, row after row. */
void attention_decode(float *out, float *scores, const float *q, const float *k, const float *v, int T, int n_q,
                      int n_kv, int head_dim);

#endif
