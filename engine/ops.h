/* ops: the numeric kernels of the engine, on plain float arrays, forward and backward side by side.
 * Matrix products of at least GEMM_MIN_ROWS rows run the engine's AVX-512 gemm when the CPU has it (twice the
 * rate of the machine's OpenBLAS core, see engine/gemm.h), the others BLAS (cblas_sgemm / cblas_sgemv);
 * everything else is written here.
 * Row-major throughout. Shapes are given as (rows, cols). */
#ifndef ELMS_OPS_H
#define ELMS_OPS_H

#include <stddef.h>

#include "engine/dtype.h"

/* matmul_nt: out (n, m) = x (n, k) . w^T where w is (m, k) with row stride ldw (a row prefix of a larger matrix).
 * accumulate: out += instead of out =. Uses sgemv when n == 1. */
void matmul_nt(float *out, const float *x, const float *w, int n, int k, int m, int ldw, int accumulate);
/* matmul_nt_typed: matmul_nt for weights w (m, k; row stride ldw) of element type t, n >= 1. F32 is matmul_nt;
 * one token runs gemv_rows; several the engine's products, or without AVX-512 blocks of rows widened to F32 into
 * scratch (scratch_cap floats; with less than k, one token at a time through gemv_rows) for sgemm. */
void matmul_nt_typed(float *out, const float *x, const void *w, StDtype t, int n, int k, int m, int ldw,
                     int accumulate, float *scratch, size_t scratch_cap);
/* matmul_nn_typed: matmul_nn (x with row stride k) for weights w (k, m; row stride ldw) of element type t: F32 is
 * matmul_nn; one row runs gemv_cols; more the engine's gemm, or without AVX-512 blocks of rows widened into scratch
 * (scratch_cap floats; with less than m, one token at a time through gemv_cols) for sgemm. */
void matmul_nn_typed(float *out, const float *x, const void *w, StDtype t, int n, int k, int m, int ldw,
                     int accumulate, float *scratch, size_t scratch_cap);
/* matmul_nn: out (n, m) = x (n, k) . w where w is (k, m) with row stride ldw; accumulate as above. */
void matmul_nn(float *out, const float *x, int ldx, const float *w, int ldw, int n, int k, int m, int accumulate);

/* Gradients of the two products. Weight gradients always accumulate (dw +=, for gradient accumulation); input
 * gradients overwrite unless accumulate (dx +=). Either of dx, dw may be NULL (not needed, e.g. frozen weights).
 * matmul_nt_backward: for out = x (n, k) . w^T, w (m, k) with row stride ldw:
 *   dx (n, k) = dout (n, m) . w;   dw (m, k; stride ldw) += dout^T . x. */
void matmul_nt_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, int n, int k, int m,
                        int ldw, int accumulate);
/* matmul_nn_backward: for out = x (n, k; stride ldx) . w, w (k, m) with row stride ldw:
 *   dx (n, k; stride ldx) = dout (n, m) . w^T;   dw (k, m; stride ldw) += x^T . dout. */
void matmul_nn_backward(float *dx, float *dw, const float *dout, const float *x, int ldx, const float *w, int ldw,
                        int n, int k, int m, int accumulate);

/* rmsnorm_forward: out (n, dim) = x / rms(x) * w; rstd (n) receives 1/rms if non-NULL (for backward). */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int n, int dim, float eps);
/* rmsnorm_backward: given dout (n, dim), the forward input x (n, dim), weight w (dim) and rstd (n) saved by the
 * forward: dx (n, dim) += dL/dx (accumulates into the residual gradient); dw (dim) += dL/dw unless NULL. */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int n, int dim);

/* rope_forward: in place on x (n, n_heads*head_dim), token i at position pos0+i; Hugging Face half-split
 * pairs (j, j+head_dim/2) rotated by angle pos * theta^(-2j/head_dim). */
void rope_forward(float *x, int n, int n_heads, int head_dim, int pos0, float theta);
/* rope_backward: the gradient of rope_forward is the inverse rotation; in place on dx (n, n_heads*head_dim). */
void rope_backward(float *dx, int n, int n_heads, int head_dim, int pos0, float theta);
/* rope_table: cos and sin (n_pos, head_dim/2) for positions [0, n_pos), the exact float values rope_forward uses. */
void rope_table(float *cos_t, float *sin_t, int n_pos, int head_dim, float theta);
/* rope_apply: rope_forward (inverse = 0) or rope_backward (inverse = 1) from a table, for n tokens at positions
 * [pos0, pos0+n) (within the table); bitwise equal to the table-free kernels. */
void rope_apply(float *x, int n, int n_heads, int head_dim, int pos0, const float *cos_t, const float *sin_t,
                int inverse);

/* attention_forward: grouped-query attention for n new queries at positions [pos0, pos0+n). causal != 0: query
 * i attends to keys [0, pos0+i]; causal == 0 (bidirectional): every query attends to all keys [0, pos0+n).
 * q (n, n_q*head_dim) with rep = n_q/n_kv query heads per KV group (group-major), k and v (pos0+n, n_kv*head_dim)
 * holding all positions, out (n, n_q*head_dim). att: scratch of n*(pos0+n) floats, or (n_q, n, pos0+n) probs
 * kept for backward when keep_probs != 0 (masked entries 0). */
void attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int n, int pos0,
                       int n_q, int n_kv, int head_dim, int keep_probs, int causal);
/* attention_backward: gradients of attention_forward (same causal flag) from the probabilities it kept
 * (keep_probs != 0): att (n_q, n, T) with T = pos0+n; dout (n, n_q*head_dim). Writes dq (n, n_q*head_dim) and
 * dk, dv (T, n_kv*head_dim) (the rep query heads of a group sum into them; overwritten, or added to when
 * accumulate, so that blocks of queries can be processed one after the other). scratch: n*T floats. */
void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int n, int pos0, int n_q, int n_kv,
                        int head_dim, int accumulate, int causal);

/* swiglu_forward: h (n) = silu(g) * u. */
void swiglu_forward(float *h, const float *g, const float *u, size_t n);
/* swiglu_backward: dg (n) = dh * u * silu'(g), du (n) = dh * silu(g) (overwritten). */
void swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, size_t n);

/* softmax_inplace: x (n) -> softmax(x). */
void softmax_inplace(float *x, int n);
/* log_softmax_at: log softmax(x)[i] for x (n). */
double log_softmax_at(const float *x, int n, int i);

/* cross_entropy_forward: loss of each row of logits (n, vocab) against targets (n); rows whose target is < 0
 * are ignored (loss 0). loss (n) may be NULL. Returns the summed loss of the counted rows. */
double cross_entropy_forward(float *loss, const float *logits, const int *targets, int n, int vocab);
/* cross_entropy_backward: dlogits (n, vocab) = scale * (softmax(logits) - onehot(target)), 0 for ignored rows.
 * dlogits may be the logits array itself (in place). */
void cross_entropy_backward(float *dlogits, const float *logits, const int *targets, int n, int vocab, float scale);

/* bce_logits_forward: binary cross-entropy of n independent sigmoid logits (n) against targets (n) in {0, 1};
 * entries whose target is < 0 are ignored (loss 0). loss (n) may be NULL. Returns the summed loss of the counted
 * entries. */
double bce_logits_forward(float *loss, const float *logits, const int *targets, int n);
/* bce_logits_backward: dlogits (n) = scale * (sigmoid(logits) - target), 0 for ignored entries; dlogits may be the
 * logits array itself (in place). */
void bce_logits_backward(float *dlogits, const float *logits, const int *targets, int n, float scale);

/* embedding_forward: out (n, dim) = table[tokens[i]]. */
void embedding_forward(float *out, const float *table, const int *tokens, int n, int dim);
/* embedding_backward: dtable[tokens[i]] (dim) += dout[i] for each of the n rows. */
void embedding_backward(float *dtable, const float *dout, const int *tokens, int n, int dim);

#endif
