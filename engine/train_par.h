/* train_par: the trainer's non-BLAS kernels run across a Pool: row-parallel RMSNorm, SwiGLU and cross-entropy,
 * and attention (with its RoPE) in parallel over the sequences of a batch. Every row (sequence) is computed
 * exactly as the serial kernel in ops.c computes it, and reductions over rows (RMSNorm weight gradients, the
 * summed loss) keep the serial order, so results do not depend on the thread count. Private to engine/train_*.c. */
#ifndef ELMS_TRAIN_PAR_H
#define ELMS_TRAIN_PAR_H

#include <stddef.h>

#include "engine/pool.h"

/* rmsnorm_forward over n rows (dim) in parallel. */
void par_rmsnorm_forward(Pool *p, float *out, float *rstd, const float *x, const float *w, int n, int dim,
                         float eps);
/* rmsnorm_backward: dx rows in parallel, dw (unless NULL) in parallel over columns. */
void par_rmsnorm_backward(Pool *p, float *dx, float *dw, const float *dout, const float *x, const float *w,
                          const float *rstd, int n, int dim);
/* swiglu_forward / swiglu_backward over n rows of width cols. */
void par_swiglu_forward(Pool *p, float *h, const float *g, const float *u, int n, int cols);
void par_swiglu_backward(Pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int n,
                         int cols);
/* cross_entropy_forward: returns the summed loss (rows summed in order); row_loss (n) is scratch. */
double par_cross_entropy_forward(Pool *p, double *row_loss, const float *logits, const int *targets, int n,
                                 int vocab);
void par_cross_entropy_backward(Pool *p, float *dlogits, const float *logits, const int *targets, int n, int vocab,
                                float scale);

/* Attention of a batch of B sequences of T tokens, causal (causal != 0) or bidirectional: q (B*T, nq*hd), k, v
 * (B*T, nkv*hd), out (B*T, nq*hd), att (B, nq, T, T) kept probabilities. The forward applies RoPE (table cos/sin
 * (T, hd/2)) to q and k in place first; the backward returns dq, dk with RoPE undone (gradients with respect to
 * the pre-RoPE q and k). scratch: (B, T, T) floats for the backward. */
void par_attention_forward(Pool *p, float *out, float *att, float *q, float *k, const float *v, int B, int T, int nq,
                           int nkv, int hd, const float *cos_t, const float *sin_t, int causal);
void par_attention_backward(Pool *p, float *dq, float *dk, float *dv, float *scratch, const float *dout,
                            const float *att, const float *q, const float *k, const float *v, int B, int T, int nq,
                            int nkv, int hd, const float *cos_t, const float *sin_t, int causal);

#endif
