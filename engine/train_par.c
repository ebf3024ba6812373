/* train_par: pool-parallel wrappers of the ops.c kernels used by the trainer (see train_par.h). */
#include "engine/train_par.h"

#include "engine/ops.h"

/* ---- RMSNorm ---- */

typedef struct NormJob {
    float *out, *rstd, *dx, *dw;
    const float *x, *w, *dout, *rstd_in;
    int dim;
    float eps;
} NormJob;

static void norm_fwd_rows(void *c, int b, int e) {
    NormJob *j = c;
    size_t o = (size_t)b * j->dim;
    rmsnorm_forward(j->out + o, j->rstd + b, j->x + o, j->w, e - b, j->dim, j->eps);
}

void par_rmsnorm_forward(Pool *p, float *out, float *rstd, const float *x, const float *w, int n, int dim,
                         float eps) {
    NormJob j = {.out = out, .rstd = rstd, .x = x, .w = w, .dim = dim, .eps = eps};
    pool_for(p, n, norm_fwd_rows, &j);
}

static void norm_bwd_rows(void *c, int b, int e) {
    NormJob *j = c;
    size_t o = (size_t)b * j->dim;
    rmsnorm_backward(j->dx + o, NULL, j->dout + o, j->x + o, j->w, j->rstd_in + b, e - b, j->dim);
}

typedef struct NormWJob {
    NormJob *j;
    int n;
} NormWJob;

/* dw[c] += sum over rows (in row order) of dout * x * rstd, for columns [b, e): the serial kernel's sum order. */
static void norm_bwd_cols(void *c, int b, int e) {
    NormWJob *w = c;
    const NormJob *j = w->j;
    for (int i = 0; i < w->n; i++) {
        const float *g = j->dout + (size_t)i * j->dim, *x = j->x + (size_t)i * j->dim;
        float r = j->rstd_in[i];
        for (int col = b; col < e; col++) j->dw[col] += g[col] * x[col] * r;
    }
}

void par_rmsnorm_backward(Pool *p, float *dx, float *dw, const float *dout, const float *x, const float *w,
                          const float *rstd, int n, int dim) {
    NormJob j = {.dx = dx, .dw = dw, .x = x, .w = w, .dout = dout, .rstd_in = rstd, .dim = dim};
    pool_for(p, n, norm_bwd_rows, &j);
    if (dw) {
        NormWJob wj = {&j, n};
        pool_for(p, dim, norm_bwd_cols, &wj);
    }
}

/* ---- SwiGLU ---- */

typedef struct SwiJob {
    float *h, *dg, *du;
    const float *g, *u, *dh;
    int cols;
} SwiJob;

static void swi_fwd_rows(void *c, int b, int e) {
    SwiJob *j = c;
    size_t o = (size_t)b * j->cols;
    swiglu_forward(j->h + o, j->g + o, j->u + o, (size_t)(e - b) * j->cols);
}

static void swi_bwd_rows(void *c, int b, int e) {
    SwiJob *j = c;
    size_t o = (size_t)b * j->cols;
    swiglu_backward(j->dg + o, j->du + o, j->dh + o, j->g + o, j->u + o, (size_t)(e - b) * j->cols);
}

void par_swiglu_forward(Pool *p, float *h, const float *g, const float *u, int n, int cols) {
    SwiJob j = {.h = h, .g = g, .u = u, .cols = cols};
    pool_for(p, n, swi_fwd_rows, &j);
}

void par_swiglu_backward(Pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int n,
                         int cols) {
    SwiJob j = {.dg = dg, .du = du, .dh = dh, .g = g, .u = u, .cols = cols};
    pool_for(p, n, swi_bwd_rows, &j);
}

/* ---- cross-entropy ---- */

typedef struct CeJob {
    double *row_loss;
    float *dlogits;
    const float *logits;
    const int *targets;
    int vocab;
    float scale;
} CeJob;

static void ce_fwd_rows(void *c, int b, int e) {
    CeJob *j = c;
    for (int i = b; i < e; i++)
        j->row_loss[i] = cross_entropy_forward(NULL, j->logits + (size_t)i * j->vocab, j->targets + i, 1, j->vocab);
}

static void ce_bwd_rows(void *c, int b, int e) {
    CeJob *j = c;
    size_t o = (size_t)b * j->vocab;
    cross_entropy_backward(j->dlogits + o, j->logits + o, j->targets + b, e - b, j->vocab, j->scale);
}

double par_cross_entropy_forward(Pool *p, double *row_loss, const float *logits, const int *targets, int n,
                                 int vocab) {
    CeJob j = {.row_loss = row_loss, .logits = logits, .targets = targets, .vocab = vocab};
    pool_for(p, n, ce_fwd_rows, &j);
    double s = 0.0;
    for (int i = 0; i < n; i++) s += row_loss[i];
    return s;
}

void par_cross_entropy_backward(Pool *p, float *dlogits, const float *logits, const int *targets, int n, int vocab,
                                float scale) {
    CeJob j = {.dlogits = dlogits, .logits = logits, .targets = targets, .vocab = vocab, .scale = scale};
    pool_for(p, n, ce_bwd_rows, &j);
}

/* ---- attention, one sequence per item ----
 * Causal attention only needs keys up to the last query, so each sequence runs as query blocks: block i holds
 * queries [s_i, e_i) and attends to keys [0, e_i) (attention_forward with pos0 = s_i). With 4 blocks this does
 * 10/16 of the full T x T work. Block i's probabilities (nq, e_i - s_i, e_i) follow block i-1's in the
 * sequence's (nq, T, T) slot. Bidirectional attention needs every key for every query: one block. */

/* Query blocks of a sequence of T tokens: at most 4, at least 64 queries each; 1 when bidirectional. */
static int att_blocks(int T, int causal) {
    int nb = causal ? T / 64 : 1;
    return nb < 1 ? 1 : nb > 4 ? 4 : nb;
}

typedef struct AttJob {
    float *out, *att, *q, *k, *dq, *dk, *dv, *scratch;
    const float *v, *dout, *att_in, *q_in, *k_in;
    int T, nq, nkv, hd, causal;
    const float *cos_t, *sin_t;
} AttJob;

static void att_fwd_seqs(void *c, int b, int e) {
    AttJob *j = c;
    size_t qs = (size_t)j->nq * j->hd, ks = (size_t)j->nkv * j->hd, T = (size_t)j->T;
    int nb = att_blocks(j->T, j->causal);
    for (int s = b; s < e; s++) {
        float *q = j->q + s * T * qs, *k = j->k + s * T * ks, *att = j->att + (size_t)s * j->nq * T * T;
        rope_apply(q, j->T, j->nq, j->hd, 0, j->cos_t, j->sin_t, 0);
        rope_apply(k, j->T, j->nkv, j->hd, 0, j->cos_t, j->sin_t, 0);
        for (int i = 0; i < nb; i++) {
            size_t q0 = T * i / nb, q1 = T * (i + 1) / nb;
            attention_forward(j->out + (s * T + q0) * qs, att, q + q0 * qs, k, j->v + s * T * ks, (int)(q1 - q0),
                              (int)q0, j->nq, j->nkv, j->hd, 1, j->causal);
            att += (size_t)j->nq * (q1 - q0) * q1;
        }
    }
}

void par_attention_forward(Pool *p, float *out, float *att, float *q, float *k, const float *v, int B, int T, int nq,
                           int nkv, int hd, const float *cos_t, const float *sin_t, int causal) {
    AttJob j = {.out = out, .att = att, .q = q, .k = k, .v = v, .T = T, .nq = nq, .nkv = nkv, .hd = hd,
                .causal = causal, .cos_t = cos_t, .sin_t = sin_t};
    pool_for(p, B, att_fwd_seqs, &j);
}

static void att_bwd_seqs(void *c, int b, int e) {
    AttJob *j = c;
    size_t qs = (size_t)j->nq * j->hd, ks = (size_t)j->nkv * j->hd, T = (size_t)j->T;
    int nb = att_blocks(j->T, j->causal);
    for (int s = b; s < e; s++) {
        float *dq = j->dq + s * T * qs, *dk = j->dk + s * T * ks;
        const float *att[4];
        att[0] = j->att_in + (size_t)s * j->nq * T * T;
        for (int i = 1; i < nb; i++) {
            size_t q0 = T * (i - 1) / nb, q1 = T * i / nb;
            att[i] = att[i - 1] + (size_t)j->nq * (q1 - q0) * q1;
        }
        /* the last block covers every key row: it overwrites dk, dv, the others add */
        for (int i = nb - 1; i >= 0; i--) {
            size_t q0 = T * i / nb, q1 = T * (i + 1) / nb;
            attention_backward(dq + q0 * qs, dk, j->dv + s * T * ks, j->scratch + s * T * T,
                               j->dout + (s * T + q0) * qs, att[i], j->q_in + (s * T + q0) * qs, j->k_in + s * T * ks,
                               j->v + s * T * ks, (int)(q1 - q0), (int)q0, j->nq, j->nkv, j->hd, i < nb - 1, j->causal);
        }
        rope_apply(dq, j->T, j->nq, j->hd, 0, j->cos_t, j->sin_t, 1);
        rope_apply(dk, j->T, j->nkv, j->hd, 0, j->cos_t, j->sin_t, 1);
    }
}

void par_attention_backward(Pool *p, float *dq, float *dk, float *dv, float *scratch, const float *dout,
                            const float *att, const float *q, const float *k, const float *v, int B, int T, int nq,
                            int nkv, int hd, const float *cos_t, const float *sin_t, int causal) {
    AttJob j = {.dq = dq, .dk = dk, .dv = dv, .scratch = scratch, .dout = dout, .att_in = att, .q_in = q, .k_in = k,
                .v = v, .T = T, .nq = nq, .nkv = nkv, .hd = hd, .causal = causal, .cos_t = cos_t, .sin_t = sin_t};
    pool_for(p, B, att_bwd_seqs, &j);
}
