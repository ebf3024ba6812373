/* ops: numeric kernels on float arrays (see ops.h). Matrix products of several rows run the engine's AVX-512
 * products (engine/gemm.h) where the CPU has them, the rest BLAS; everything else is plain C that the compiler
 * vectorises. Forward and backward kernels of an op sit side by side. */
#include "engine/ops.h"
#include "engine/gemm.h"
#include "engine/gemv.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ---- matrix products ---- */

/* own_nt: out (n, m) (+)= x (n, k) . w[:m, :k]^T, n >= 2, by the engine's few-rows product or its packed gemm
 * (whichever is faster for n and k); -1 without AVX-512 (nothing written) */
static int own_nt(float *out, const float *x, const void *w, StDtype t, int n, int k, int m, int ldw, int accumulate) {
    if (n < GEMM_MIN_ROWS && k >= GEMM_SMALL_MIN_K) return gemm_nt_small(out, m, x, k, w, t, ldw, n, k, m, accumulate);
    return gemm_nt(out, m, x, k, w, t, ldw, n, k, m, accumulate);
}

void matmul_nt(float *out, const float *x, const float *w, int n, int k, int m, int ldw, int accumulate) {
    if (n <= 0 || m <= 0) return;
    if (k <= 0) {
        if (!accumulate) memset(out, 0, sizeof(float) * (size_t)n * (size_t)m);
        return;
    }
    float beta = accumulate ? 1.0f : 0.0f;
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, m, k, 1.0f, w, ldw, x, 1, beta, out, 1);
    else if (own_nt(out, x, w, ST_F32, n, k, m, ldw, accumulate))
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, m, k, 1.0f, x, k, w, ldw, beta, out, m);
}

void matmul_nt_typed(float *out, const float *x, const void *w, StDtype t, int n, int k, int m, int ldw,
                     int accumulate, float *scratch, size_t scratch_cap) {
    if (t == ST_F32) {
        matmul_nt(out, x, w, n, k, m, ldw, accumulate);
        return;
    }
    if (n <= 0 || m <= 0) return;
    if (n == 1 || k <= 0) {
        gemv_rows(out, w, t, ldw, x, m, k, accumulate);
        return;
    }
    if (!own_nt(out, x, w, t, n, k, m, ldw, accumulate)) return;
    int rows = (int)(scratch_cap / (size_t)k);
    if (rows > m) rows = m;
    if (rows < 1) { /* no room to widen a row: one token at a time */
        for (int i = 0; i < n; i++) gemv_rows(out + (size_t)i * m, w, t, ldw, x + (size_t)i * k, m, k, accumulate);
        return;
    }
    size_t es = st_dtype_size(t);
    for (int j0 = 0; j0 < m; j0 += rows) {
        int r = m - j0 < rows ? m - j0 : rows;
        wtype_to_f32(scratch, (const char *)w + (size_t)j0 * ldw * es, t, ldw, r, k); /* (r, k) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, r, k, 1.0f, x, k, scratch, k,
                    accumulate ? 1.0f : 0.0f, out + j0, m);
    }
}

void matmul_nn_typed(float *out, const float *x, const void *w, StDtype t, int n, int k, int m, int ldw,
                     int accumulate, float *scratch, size_t scratch_cap) {
    if (t == ST_F32) {
        matmul_nn(out, x, k, w, ldw, n, k, m, accumulate);
        return;
    }
    if (n <= 0 || m <= 0) return;
    if (n == 1 || k <= 0) {
        gemv_cols(out, w, t, ldw, x, k, m, accumulate);
        return;
    }
    if (!gemm_nn(out, m, x, k, w, t, ldw, n, k, m, accumulate)) return;
    int rows = (int)(scratch_cap / (size_t)m);
    if (rows > k) rows = k;
    if (rows < 1) { /* no room to widen a row: one token at a time */
        for (int i = 0; i < n; i++) gemv_cols(out + (size_t)i * m, w, t, ldw, x + (size_t)i * k, k, m, accumulate);
        return;
    }
    size_t es = st_dtype_size(t);
    for (int i0 = 0; i0 < k; i0 += rows) {
        int r = k - i0 < rows ? k - i0 : rows;
        wtype_to_f32(scratch, (const char *)w + (size_t)i0 * ldw * es, t, ldw, r, m); /* (r, m) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, m, r, 1.0f, x + i0, k, scratch, m,
                    accumulate || i0 > 0 ? 1.0f : 0.0f, out, m);
    }
}

void matmul_nn(float *out, const float *x, int ldx, const float *w, int ldw, int n, int k, int m, int accumulate) {
    if (n <= 0 || m <= 0) return;
    if (k <= 0) {
        if (!accumulate) memset(out, 0, sizeof(float) * (size_t)n * (size_t)m);
        return;
    }
    float beta = accumulate ? 1.0f : 0.0f;
    if (n == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, k, m, 1.0f, w, ldw, x, 1, beta, out, 1);
    else if (gemm_nn(out, m, x, ldx, w, ST_F32, ldw, n, k, m, accumulate)) /* its packing is a copy: ahead from 2 rows */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, m, k, 1.0f, x, ldx, w, ldw, beta, out, m);
}

void matmul_nt_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, int n, int k, int m,
                        int ldw, int accumulate) {
    if (n <= 0 || k <= 0) return;
    if (m <= 0) {
        if (dx && !accumulate) memset(dx, 0, sizeof(float) * (size_t)n * (size_t)k);
        return;
    }
    if (dx) /* dx (n, k) = dout (n, m) . w (m, k) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, k, m, 1.0f, dout, m, w, ldw,
                    accumulate ? 1.0f : 0.0f, dx, k);
    if (dw) /* dw (m, k) += dout^T (m, n) . x (n, k) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, k, n, 1.0f, dout, m, x, k, 1.0f, dw, ldw);
}

void matmul_nn_backward(float *dx, float *dw, const float *dout, const float *x, int ldx, const float *w, int ldw,
                        int n, int k, int m, int accumulate) {
    if (n <= 0 || k <= 0) return;
    if (m <= 0) {
        if (dx && !accumulate)
            for (int i = 0; i < n; i++) memset(dx + (size_t)i * ldx, 0, sizeof(float) * (size_t)k);
        return;
    }
    if (dx) /* dx (n, k) = dout (n, m) . w^T (m, k) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, k, m, 1.0f, dout, m, w, ldw,
                    accumulate ? 1.0f : 0.0f, dx, ldx);
    if (dw) /* dw (k, m) += x^T (k, n) . dout (n, m) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, m, n, 1.0f, x, ldx, dout, m, 1.0f, dw, ldw);
}

/* ---- RMSNorm ---- */

/* rows per block of rmsnorm_forward: each row's sum of squares is still one chain of additions in order, but the
 * chains of a block's rows run side by side instead of one after another */
#define RMS_ROWS 8

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int n, int dim, float eps) {
    for (int i0 = 0; i0 < n; i0 += RMS_ROWS) {
        int b = n - i0 < RMS_ROWS ? n - i0 : RMS_ROWS;
        float ss[RMS_ROWS] = {0};
        const float *xb = x + (size_t)i0 * dim;
        if (b == RMS_ROWS) { /* eight named accumulators stay in registers */
            size_t d = (size_t)dim;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
            for (size_t j = 0; j < d; j++) {
                s0 += xb[j] * xb[j], s1 += xb[d + j] * xb[d + j];
                s2 += xb[2 * d + j] * xb[2 * d + j], s3 += xb[3 * d + j] * xb[3 * d + j];
                s4 += xb[4 * d + j] * xb[4 * d + j], s5 += xb[5 * d + j] * xb[5 * d + j];
                s6 += xb[6 * d + j] * xb[6 * d + j], s7 += xb[7 * d + j] * xb[7 * d + j];
            }
            ss[0] = s0, ss[1] = s1, ss[2] = s2, ss[3] = s3, ss[4] = s4, ss[5] = s5, ss[6] = s6, ss[7] = s7;
        } else {
            for (int r = 0; r < b; r++)
                for (int j = 0; j < dim; j++) ss[r] += xb[(size_t)r * dim + j] * xb[(size_t)r * dim + j];
        }
        for (int r = 0; r < b; r++) {
            const float *xi = x + (size_t)(i0 + r) * dim;
            float *oi = out + (size_t)(i0 + r) * dim;
            float rs = 1.0f / sqrtf(ss[r] / (float)dim + eps);
            if (rstd) rstd[i0 + r] = rs;
            for (int j = 0; j < dim; j++) oi[j] = xi[j] * rs * w[j];
        }
    }
}

/* With y = x r w and r = (mean(x^2) + eps)^(-1/2): dr/dx_k = -r^3 x_k / dim, so
 * dx_k = r w_k dy_k - x_k r^3 / dim * sum_j dy_j w_j x_j. */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int n, int dim) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * dim, *gi = dout + (size_t)i * dim;
        float *dxi = dx + (size_t)i * dim;
        float r = rstd[i], dot = 0.0f;
        for (int j = 0; j < dim; j++) dot += gi[j] * w[j] * xi[j];
        float coef = r * r * r * dot / (float)dim;
        for (int j = 0; j < dim; j++) dxi[j] += r * w[j] * gi[j] - coef * xi[j];
        if (dw)
            for (int j = 0; j < dim; j++) dw[j] += gi[j] * xi[j] * r;
    }
}

/* ---- rotary embeddings (Hugging Face half-split convention) ---- */

/* rope_angles: cos and sin (head_dim/2) of the rotation angles pos * theta^(-2j/head_dim). */
static void rope_angles(float *cs, float *sn, int pos, int head_dim, float theta) {
    for (int j = 0; j < head_dim / 2; j++) {
        double ang = (double)pos * pow((double)theta, -2.0 * j / (double)head_dim);
        cs[j] = (float)cos(ang);
        sn[j] = (float)sin(ang);
    }
}

/* rope_rotate_row: rotate the pairs (j, j + head_dim/2) of every head of one token by the angles (cs, sn), or by
 * their negatives when inverse (the gradient of a rotation is the inverse rotation). */
static void rope_rotate_row(float *row, int n_heads, int head_dim, const float *cs, const float *sn, int inverse) {
    int half = head_dim / 2;
    float sgn = inverse ? -1.0f : 1.0f;
    for (int h = 0; h < n_heads; h++) {
        float *v = row + (size_t)h * head_dim;
        for (int j = 0; j < half; j++) {
            float a = v[j], b = v[j + half], s = sgn * sn[j];
            v[j] = a * cs[j] - b * s;
            v[j + half] = b * cs[j] + a * s;
        }
    }
}

static void rope_rotate(float *x, int n, int n_heads, int head_dim, int pos0, float theta, int inverse) {
    float cs[512], sn[512]; /* head_dim <= 1024 is checked by model_config_check */
    for (int i = 0; i < n; i++) {
        rope_angles(cs, sn, pos0 + i, head_dim, theta);
        rope_rotate_row(x + (size_t)i * n_heads * head_dim, n_heads, head_dim, cs, sn, inverse);
    }
}

void rope_forward(float *x, int n, int n_heads, int head_dim, int pos0, float theta) {
    rope_rotate(x, n, n_heads, head_dim, pos0, theta, 0);
}

void rope_backward(float *dx, int n, int n_heads, int head_dim, int pos0, float theta) {
    rope_rotate(dx, n, n_heads, head_dim, pos0, theta, 1);
}

void rope_table(float *cos_t, float *sin_t, int n_pos, int head_dim, float theta) {
    int half = head_dim / 2;
    for (int p = 0; p < n_pos; p++) rope_angles(cos_t + (size_t)p * half, sin_t + (size_t)p * half, p, head_dim, theta);
}

void rope_apply(float *x, int n, int n_heads, int head_dim, int pos0, const float *cos_t, const float *sin_t,
                int inverse) {
    int half = head_dim / 2;
    for (int i = 0; i < n; i++)
        rope_rotate_row(x + (size_t)i * n_heads * head_dim, n_heads, head_dim, cos_t + (size_t)(pos0 + i) * half,
                        sin_t + (size_t)(pos0 + i) * half, inverse);
}

/* ---- grouped-query attention, causal or bidirectional ---- */

void softmax_inplace(float *x, int n) {
    float inv = 1.0f / softmax_exp(x, n);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

/* query rows per block of the causal inference attention (a multiple of the gemm's 12-row tiles) */
#define ATTN_BLOCK 48

void attention_forward(float *out, float *att, const float *q, const float *k, const float *v, int n, int pos0,
                       int n_q, int n_kv, int head_dim, int keep_probs, int causal) {
    int T = pos0 + n, rep = n_q / n_kv;
    int qs = n_q * head_dim, ks = n_kv * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    for (int h = 0; h < n_q; h++) {
        int g = h / rep;
        const float *qh = q + (size_t)h * head_dim;
        const float *kg = k + (size_t)g * head_dim;
        const float *vg = v + (size_t)g * head_dim;
        float *oh = out + (size_t)h * head_dim;
        float *S = keep_probs ? att + (size_t)h * n * T : att; /* (n, T) */
        if (n == 1) {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, T, head_dim, scale, kg, ks, qh, 1, 0.0f, S, 1);
            softmax_inplace(S, T);
            cblas_sgemv(CblasRowMajor, CblasTrans, T, head_dim, 1.0f, vg, ks, S, 1, 0.0f, oh, 1);
            continue;
        }
        if (causal && !keep_probs && n >= GEMM_MIN_ROWS && gemm_available()) {
            /* blocks of ATTN_BLOCK queries, each against the keys it may see: the masked triangle is not computed */
            for (int i0 = 0; i0 < n; i0 += ATTN_BLOCK) {
                int b = n - i0 < ATTN_BLOCK ? n - i0 : ATTN_BLOCK, Tb = pos0 + i0 + b;
                gemm_nt(S, Tb, qh + (size_t)i0 * qs, qs, kg, ST_F32, ks, b, head_dim, Tb, 0); /* (b, Tb) */
                for (int i = 0; i < b; i++) {
                    float *row = S + (size_t)i * Tb;
                    int valid = pos0 + i0 + i + 1;
                    for (int j = 0; j < valid; j++) row[j] *= scale;
                    softmax_inplace(row, valid);
                    for (int j = valid; j < Tb; j++) row[j] = 0.0f;
                }
                gemm_nn(oh + (size_t)i0 * qs, qs, S, Tb, vg, ST_F32, ks, b, Tb, head_dim, 0);
            }
            continue;
        }
        /* S (n, T) = scale q_h K_g^T; the engine's gemm for enough query rows (the scale applied after) */
        int own = n >= GEMM_MIN_ROWS && !gemm_nt(S, T, qh, qs, kg, ST_F32, ks, n, head_dim, T, 0);
        if (!own) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, T, head_dim, scale, qh, qs, kg, ks, 0.0f, S, T);
        for (int i = 0; i < n; i++) {
            float *row = S + (size_t)i * T;
            int valid = causal ? pos0 + i + 1 : T;
            if (own)
                for (int j = 0; j < valid; j++) row[j] *= scale;
            softmax_inplace(row, valid);
            for (int j = valid; j < T; j++) row[j] = 0.0f;
        }
        if (!own || gemm_nn(oh, qs, S, T, vg, ST_F32, ks, n, T, head_dim, 0))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, head_dim, T, 1.0f, S, T, vg, ks, 0.0f, oh, qs);
    }
}

/* Per head h of group g, with P the kept probabilities (n, T), S = scale * Q K^T, O = P V:
 *   dV += P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)),  dQ = scale dS K,  dK += scale dS^T Q.
 * Masked entries have P = 0, hence dS = 0: the causal mask needs no special case beyond skipping them. */
void attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *att,
                        const float *q, const float *k, const float *v, int n, int pos0, int n_q, int n_kv,
                        int head_dim, int accumulate, int causal) {
    int T = pos0 + n, rep = n_q / n_kv;
    int qs = n_q * head_dim, ks = n_kv * head_dim;
    float scale = 1.0f / sqrtf((float)head_dim);
    if (!accumulate) {
        memset(dk, 0, sizeof(float) * (size_t)T * ks);
        memset(dv, 0, sizeof(float) * (size_t)T * ks);
    }
    for (int h = 0; h < n_q; h++) {
        int g = h / rep;
        const float *P = att + (size_t)h * n * T; /* (n, T) */
        const float *dOh = dout + (size_t)h * head_dim, *qh = q + (size_t)h * head_dim;
        const float *kg = k + (size_t)g * head_dim, *vg = v + (size_t)g * head_dim;
        float *dS = scratch; /* (n, T) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, head_dim, n, 1.0f, P, T, dOh, qs, 1.0f,
                    dv + (size_t)g * head_dim, ks);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, T, head_dim, 1.0f, dOh, qs, vg, ks, 0.0f, dS, T);
        for (int i = 0; i < n; i++) {
            const float *pi = P + (size_t)i * T;
            float *di = dS + (size_t)i * T;
            int valid = causal ? pos0 + i + 1 : T;
            float dot = 0.0f;
            for (int j = 0; j < valid; j++) dot += pi[j] * di[j];
            for (int j = 0; j < valid; j++) di[j] = pi[j] * (di[j] - dot);
            for (int j = valid; j < T; j++) di[j] = 0.0f;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, head_dim, T, scale, dS, T, kg, ks, 0.0f,
                    dq + (size_t)h * head_dim, qs);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, head_dim, n, scale, dS, T, qh, qs, 1.0f,
                    dk + (size_t)g * head_dim, ks);
    }
}

/* ---- SwiGLU ---- */

void swiglu_forward(float *h, const float *g, const float *u, size_t n) { swiglu_kernel(h, g, u, n); }

void swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float sig = 1.0f / (1.0f + expf(-g[i]));
        float silu = g[i] * sig;
        dg[i] = dh[i] * u[i] * sig * (1.0f + g[i] * (1.0f - sig));
        du[i] = dh[i] * silu;
    }
}

/* ---- embedding and log-softmax ---- */

void embedding_forward(float *out, const float *table, const int *tokens, int n, int dim) {
    for (int i = 0; i < n; i++) memcpy(out + (size_t)i * dim, table + (size_t)tokens[i] * dim, sizeof(float) * dim);
}

void embedding_backward(float *dtable, const float *dout, const int *tokens, int n, int dim) {
    for (int i = 0; i < n; i++) {
        float *row = dtable + (size_t)tokens[i] * dim;
        const float *g = dout + (size_t)i * dim;
        for (int j = 0; j < dim; j++) row[j] += g[j];
    }
}

double log_softmax_at(const float *x, int n, int i) {
    float mx = x[0];
    for (int j = 1; j < n; j++)
        if (x[j] > mx) mx = x[j];
    double s = 0.0;
    for (int j = 0; j < n; j++) s += exp((double)(x[j] - mx));
    return (double)(x[i] - mx) - log(s);
}

/* ---- cross-entropy over the vocabulary ---- */

double cross_entropy_forward(float *loss, const float *logits, const int *targets, int n, int vocab) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        const float *x = logits + (size_t)i * vocab;
        if (targets[i] < 0) {
            if (loss) loss[i] = 0.0f;
            continue;
        }
        float mx = x[0];
        for (int j = 1; j < vocab; j++)
            if (x[j] > mx) mx = x[j];
        float s = 0.0f;
        for (int j = 0; j < vocab; j++) s += expf(x[j] - mx);
        double l = (double)mx + log((double)s) - (double)x[targets[i]];
        if (loss) loss[i] = (float)l;
        total += l;
    }
    return total;
}

void cross_entropy_backward(float *dlogits, const float *logits, const int *targets, int n, int vocab, float scale) {
    for (int i = 0; i < n; i++) {
        const float *x = logits + (size_t)i * vocab;
        float *d = dlogits + (size_t)i * vocab;
        if (targets[i] < 0) {
            memset(d, 0, sizeof(float) * (size_t)vocab);
            continue;
        }
        float mx = x[0];
        for (int j = 1; j < vocab; j++)
            if (x[j] > mx) mx = x[j];
        float s = 0.0f;
        for (int j = 0; j < vocab; j++) {
            float ev = expf(x[j] - mx);
            d[j] = ev;
            s += ev;
        }
        float inv = scale / s;
        for (int j = 0; j < vocab; j++) d[j] *= inv;
        d[targets[i]] -= scale;
    }
}

/* ---- binary cross-entropy on logits (independent sigmoids) ---- */

/* loss(x, y) = -y log sigmoid(x) - (1 - y) log(1 - sigmoid(x)) = max(x, 0) - x y + log(1 + exp(-|x|)), which never
 * overflows; its derivative is sigmoid(x) - y. */
double bce_logits_forward(float *loss, const float *logits, const int *targets, int n) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        if (targets[i] < 0) {
            if (loss) loss[i] = 0.0f;
            continue;
        }
        double x = logits[i], l = (x > 0 ? x : 0.0) - x * targets[i] + log1p(exp(-fabs(x)));
        if (loss) loss[i] = (float)l;
        total += l;
    }
    return total;
}

void bce_logits_backward(float *dlogits, const float *logits, const int *targets, int n, float scale) {
    for (int i = 0; i < n; i++) {
        float x = logits[i];
        dlogits[i] = targets[i] < 0 ? 0.0f : scale * (1.0f / (1.0f + expf(-x)) - (float)targets[i]);
    }
}
