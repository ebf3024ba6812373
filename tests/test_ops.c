/* Forward kernels of engine/ops.c against naive double-precision references. */
#include "engine/ops.h"
#include "tests/test.h"
#include "tests/util.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill(float *x, size_t n, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * gsl_rng_uniform(r) - 1.0);
    gsl_rng_free(r);
}

TEST(ops_matmul_nt_prefix_rows) {
    int n = 5, k = 7, m = 4, M = 9; /* w has 9 rows; use the first 4 */
    float x[35], w[63], out[20], out1[4];
    fill(x, 35, 1);
    fill(w, 63, 2);
    for (int acc = 0; acc < 2; acc++) {
        for (int i = 0; i < 20; i++) out[i] = 0.5f;
        matmul_nt(out, x, w, n, k, m, k, acc);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) {
                double ref = acc ? 0.5 : 0.0;
                for (int q = 0; q < k; q++) ref += (double)x[i * k + q] * w[j * k + q];
                CHECK_NEAR(out[i * m + j], ref, 1e-5);
            }
    }
    matmul_nt(out1, x, w, 1, k, m, k, 0); /* the sgemv path */
    for (int j = 0; j < m; j++) CHECK_NEAR(out1[j], out[j] - 0.5f, 1e-5);
    (void)M;
}

TEST(ops_matmul_nn_strided) {
    int n = 3, k = 4, m = 6, ldx = 10, ldw = 6; /* x is a 4-column slice of a 10-column matrix */
    float x[30], w[24], out[18], out1[6];
    fill(x, 30, 3);
    fill(w, 24, 4);
    matmul_nn(out, x, ldx, w, ldw, n, k, m, 0);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < m; j++) {
            double ref = 0.0;
            for (int q = 0; q < k; q++) ref += (double)x[i * ldx + q] * w[q * ldw + j];
            CHECK_NEAR(out[i * m + j], ref, 1e-5);
        }
    matmul_nn(out1, x, ldx, w, ldw, 1, k, m, 0);
    for (int j = 0; j < m; j++) CHECK_NEAR(out1[j], out[j], 1e-5);
}

TEST(ops_rmsnorm) {
    int n = 3, d = 16;
    float x[48], w[16], out[48], rstd[3];
    fill(x, 48, 5);
    fill(w, 16, 6);
    rmsnorm_forward(out, rstd, x, w, n, d, 1e-5f);
    for (int i = 0; i < n; i++) {
        double ss = 0.0;
        for (int j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
        double r = 1.0 / sqrt(ss / d + 1e-5);
        CHECK_NEAR(rstd[i], r, 1e-5 * r);
        for (int j = 0; j < d; j++) CHECK_NEAR(out[i * d + j], x[i * d + j] * r * w[j], 1e-5);
    }
}

TEST(ops_rope_half_split) {
    int n = 4, nh = 2, hd = 8, pos0 = 3;
    float x[64], y[64];
    fill(x, 64, 7);
    memcpy(y, x, sizeof x);
    rope_forward(y, n, nh, hd, pos0, 500.0f);
    for (int i = 0; i < n; i++)
        for (int h = 0; h < nh; h++)
            for (int j = 0; j < hd / 2; j++) {
                /* pair (j, j + hd/2) as the complex number a + ib multiplied by e^{i angle} */
                double ang = (pos0 + i) * pow(500.0, -2.0 * j / hd);
                const float *v = x + (i * nh + h) * hd;
                double a = v[j], b = v[j + hd / 2];
                CHECK_NEAR(y[(i * nh + h) * hd + j], a * cos(ang) - b * sin(ang), 1e-5);
                CHECK_NEAR(y[(i * nh + h) * hd + j + hd / 2], b * cos(ang) + a * sin(ang), 1e-5);
            }
    /* rotation preserves the norm of every head vector */
    for (int r = 0; r < n * nh; r++) {
        double s0 = 0, s1 = 0;
        for (int j = 0; j < hd; j++) {
            s0 += (double)x[r * hd + j] * x[r * hd + j];
            s1 += (double)y[r * hd + j] * y[r * hd + j];
        }
        CHECK_NEAR(s0, s1, 1e-4);
    }
}

/* Naive GQA attention in double: query i (at position pos0+i) sees keys [0, pos0+i] when causal, all pos0+n keys
 * otherwise. */
static void attention_ref(double *out, const float *q, const float *k, const float *v, int n, int pos0, int nq,
                          int nkv, int hd, int causal) {
    int rep = nq / nkv;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < nq; h++) {
            int g = h / rep, T = causal ? pos0 + i + 1 : pos0 + n;
            double s[256], mx = -1e300, z = 0;
            for (int t = 0; t < T; t++) {
                double d = 0;
                for (int j = 0; j < hd; j++) d += (double)q[(i * nq + h) * hd + j] * k[(t * nkv + g) * hd + j];
                s[t] = d / sqrt((double)hd);
                if (s[t] > mx) mx = s[t];
            }
            for (int t = 0; t < T; t++) z += (s[t] = exp(s[t] - mx));
            for (int j = 0; j < hd; j++) {
                double o = 0;
                for (int t = 0; t < T; t++) o += s[t] / z * v[(t * nkv + g) * hd + j];
                out[(i * nq + h) * hd + j] = o;
            }
        }
}

TEST(ops_attention_gqa_causal) {
    int nq = 4, nkv = 2, hd = 8, ns[4] = {1, 6, 30, 110}; /* 30 and 110: the blocked path, 110 over three blocks */
    for (int pos0 = 0; pos0 <= 5; pos0 += 5)
        for (int ni = 0; ni < 4; ni++) {
            int n = ns[ni], T = pos0 + n;
            float *q = malloc(sizeof(float) * n * nq * hd), *k = malloc(sizeof(float) * T * nkv * hd);
            float *v = malloc(sizeof(float) * T * nkv * hd), *out = malloc(sizeof(float) * n * nq * hd);
            float *att = malloc(sizeof(float) * nq * n * T);
            double *ref = malloc(sizeof(double) * n * nq * hd);
            fill(q, (size_t)n * nq * hd, 8 + n);
            fill(k, (size_t)T * nkv * hd, 9 + n);
            fill(v, (size_t)T * nkv * hd, 10 + n);
            for (int keep = 0; keep < 2; keep++) {
                attention_forward(out, att, q, k, v, n, pos0, nq, nkv, hd, keep, 1);
                attention_ref(ref, q, k, v, n, pos0, nq, nkv, hd, 1);
                for (int i = 0; i < n * nq * hd; i++) CHECK_NEAR(out[i], ref[i], 1e-5);
            }
            free(q), free(k), free(v), free(out), free(att), free(ref);
        }
}

/* Bidirectional attention: every query sees all pos0+n keys (also those after it), against the plain-loop
 * reference; the kept probabilities of each row are all positive and sum to 1. */
TEST(ops_attention_gqa_bidirectional) {
    int nq = 4, nkv = 2, hd = 8;
    for (int pos0 = 0; pos0 <= 5; pos0 += 5)
        for (int n = 1; n <= 6; n += 5) {
            int T = pos0 + n;
            float *q = malloc(sizeof(float) * n * nq * hd), *k = malloc(sizeof(float) * T * nkv * hd);
            float *v = malloc(sizeof(float) * T * nkv * hd), *out = malloc(sizeof(float) * n * nq * hd);
            float *att = malloc(sizeof(float) * nq * n * T);
            double *ref = malloc(sizeof(double) * n * nq * hd), *causal = malloc(sizeof(double) * n * nq * hd);
            fill(q, (size_t)n * nq * hd, 18 + n);
            fill(k, (size_t)T * nkv * hd, 19 + n);
            fill(v, (size_t)T * nkv * hd, 20 + n);
            for (int keep = 0; keep < 2; keep++) {
                attention_forward(out, att, q, k, v, n, pos0, nq, nkv, hd, keep, 0);
                attention_ref(ref, q, k, v, n, pos0, nq, nkv, hd, 0);
                for (int i = 0; i < n * nq * hd; i++) CHECK_NEAR(out[i], ref[i], 1e-5);
            }
            for (int r = 0; r < nq * n; r++) {
                double sum = 0;
                int positive = 1;
                for (int j = 0; j < T; j++) {
                    sum += att[(size_t)r * T + j];
                    positive &= att[(size_t)r * T + j] > 0.0f;
                }
                CHECK_NEAR(sum, 1.0, 1e-5);
                CHECK_MSG(positive, "row %d of the bidirectional probabilities has a masked key", r);
            }
            /* the mask matters: with several queries, the first one sees keys the causal mask hides */
            attention_ref(causal, q, k, v, n, pos0, nq, nkv, hd, 1);
            if (n > 1) CHECK(fabs(ref[0] - causal[0]) > 1e-4);
            free(q), free(k), free(v), free(out), free(att), free(ref), free(causal);
        }
}

TEST(ops_swiglu_softmax_embedding) {
    float g[9], u[9], h[9], x[9];
    fill(g, 9, 11);
    fill(u, 9, 12);
    for (int i = 0; i < 9; i++) g[i] *= 6.0f;
    swiglu_forward(h, g, u, 9);
    for (int i = 0; i < 9; i++) CHECK_NEAR(h[i], g[i] / (1.0 + exp(-(double)g[i])) * u[i], 1e-6);
    memcpy(x, g, sizeof x);
    softmax_inplace(x, 9);
    double z = 0;
    for (int i = 0; i < 9; i++) z += exp((double)g[i]);
    for (int i = 0; i < 9; i++) CHECK_NEAR(x[i], exp((double)g[i]) / z, 1e-6);
    for (int i = 0; i < 9; i++) CHECK_NEAR(log_softmax_at(g, 9, i), (double)g[i] - log(z), 1e-6);
    float table[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, out[6];
    int tok[2] = {2, 0};
    embedding_forward(out, table, tok, 2, 3);
    CHECK(out[0] == 6 && out[2] == 8 && out[3] == 0 && out[5] == 2);
}
