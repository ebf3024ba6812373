/* engine/gemv.c: every instruction set's kernels (as many as this CPU has) against naive double-precision
 * references, for every weight type, prefix blocks with a leading dimension, odd sizes (vector tails) and both
 * accumulate modes; attention_decode against attention_forward. */
#include "engine/dtype.h"
#include "engine/gemm.h"
#include "engine/gemv.h"
#include "engine/ops.h"
#include "tests/test.h"

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

/* weights of type t (rows, ld) from F32 values; back holds the exact values the typed weights represent */
static void *typed(StDtype t, const float *w, size_t n, float *back) {
    void *p = malloc(n * st_dtype_size(t));
    f32_to_wtype(p, t, w, n);
    wtype_to_f32(back, p, t, (int)n, 1, (int)n);
    return p;
}

TEST(gemv_kernels_match_the_reference_for_every_isa_and_type) {
    GemvIsa best = gemv_isa_force(GEMV_AVX512);
    int shapes[][4] = {{1, 1, 1, 1}, {3, 5, 7, 9}, {4, 16, 4, 16}, {9, 37, 11, 41}, {13, 64, 17, 80}, {64, 256, 96, 256}};
    int checked = 0;
    for (int isa = GEMV_SCALAR; isa <= (int)best; isa++) {
        CHECK(gemv_isa_force((GemvIsa)isa) == (GemvIsa)isa);
        for (int dt = ST_F32; dt <= ST_BF16; dt++)
            for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
                int m = shapes[s][0], k = shapes[s][1], rows = shapes[s][2], ld = shapes[s][3];
                /* W (R, ld): the product reads W[:m, :k] */
                int R = m > rows ? m : rows;
                size_t n = (size_t)R * ld + (size_t)k * ld;
                float *w = malloc(n * sizeof *w), *wb = malloc(n * sizeof *wb), x[300], y[300];
                fill(w, n, 10 + s);
                fill(x, 300, 20 + s);
                void *W = typed((StDtype)dt, w, n, wb);
                for (int acc = 0; acc < 2; acc++) {
                    for (int i = 0; i < 300; i++) y[i] = 0.25f;
                    gemv_rows(y, W, (StDtype)dt, ld, x, m, k, acc);
                    for (int i = 0; i < m; i++) {
                        double ref = acc ? 0.25 : 0.0;
                        for (int j = 0; j < k; j++) ref += (double)wb[(size_t)i * ld + j] * x[j];
                        CHECK_NEAR(y[i], ref, 1e-4 * (1 + sqrt(k)));
                    }
                    CHECK(y[m] == 0.25f); /* nothing written past m */
                    /* cols: y2 (cm) = x (ck) . W[:ck, :cm] with ck = rows, cm = min(k, ld) */
                    float y2[300];
                    for (int i = 0; i < 300; i++) y2[i] = 0.25f;
                    int ck = rows, cm = k < ld ? k : ld;
                    gemv_cols(y2, W, (StDtype)dt, ld, x, ck, cm, acc);
                    for (int j = 0; j < cm; j++) {
                        double ref = acc ? 0.25 : 0.0;
                        for (int i = 0; i < ck; i++) ref += (double)x[i] * wb[(size_t)i * ld + j];
                        CHECK_NEAR(y2[j], ref, 1e-4 * (1 + sqrt(ck)));
                    }
                    CHECK(y2[cm] == 0.25f);
                    checked++;
                }
                /* conversion of a prefix block is exact */
                float *blk = malloc((size_t)m * k * sizeof *blk);
                wtype_to_f32(blk, W, (StDtype)dt, ld, m, k);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < k; j++) CHECK(blk[(size_t)i * k + j] == wb[(size_t)i * ld + j]);
                free(blk), free(W), free(w), free(wb);
            }
    }
    gemv_isa_force(best);
    CHECK(gemv_isa() == best);
    CHECK(checked >= 2 * 3 * 6);
}

TEST(gemv_narrowing_to_f16_equals_the_scalar_conversion) {
    /* every ISA's f32_to_wtype against f32_to_f16, element by element: random values over the whole F16 range and
     * beyond, ties, subnormals, infinities (a NaN only needs to stay a NaN) */
    GemvIsa best = gemv_isa();
    enum { N = 4099 };
    float *x = malloc(sizeof(float) * N);
    uint16_t *h = malloc(sizeof(uint16_t) * N);
    fill(x, N, 77);
    for (int i = 0; i < N; i++) x[i] = ldexpf(x[i], (i % 48) - 30); /* 2^-30 .. 2^17 */
    float special[] = {1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65504.0f, 65519.0f, 65520.0f, 1e-8f, 5.9604645e-8f,
                       2.9802322e-8f, -0.0f, INFINITY, -INFINITY, 6.1035156e-5f, 6.0975552e-5f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[i] = special[i];
    x[N - 1] = NAN;
    for (int isa = GEMV_SCALAR; isa <= (int)best; isa++) {
        gemv_isa_force((GemvIsa)isa);
        f32_to_wtype(h, ST_F16, x, N);
        int bad = 0;
        for (int i = 0; i < N - 1; i++) bad += h[i] != f32_to_f16(x[i]);
        CHECK_MSG(bad == 0, "isa %d: %d values differ", isa, bad);
        CHECK(isnan(f16_to_f32(h[N - 1])));
    }
    gemv_isa_force(best);
    free(x), free(h);
}

TEST(gemv_half_types_round_to_nearest) {
    float x[6] = {1.0f, 1.0f + 1.0f / 2048, 1.0f + 3.0f / 2048, 65520.0f, 1e-8f, -2.5f}, back[6];
    uint16_t h[6];
    f32_to_wtype(h, ST_F16, x, 6);
    wtype_to_f32(back, h, ST_F16, 6, 1, 6);
    CHECK(back[0] == 1.0f);
    CHECK(back[1] == 1.0f);                 /* a tie rounds to even */
    CHECK(back[2] == 1.0f + 4.0f / 2048);   /* a tie rounds to even (up) */
    CHECK(isinf(back[3]));                  /* past the largest half */
    CHECK(back[4] == 0.0f);
    CHECK(back[5] == -2.5f);
    float y[3] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 256, 3.0e38f}, yb[3];
    f32_to_wtype(h, ST_BF16, y, 3);
    wtype_to_f32(yb, h, ST_BF16, 3, 1, 3);
    CHECK(yb[0] == 1.0f);                   /* bf16 keeps 7 mantissa bits: a tie to even */
    CHECK(yb[1] == 1.0f + 4.0f / 256);
    CHECK(fabsf(yb[2] - 3.0e38f) < 3.0e36f);
}

/* head_major: attention_decode's result computed head by head (the loop order it replaced), in plain float
 * arithmetic: the scalar kernel set must agree with it bit for bit */
static void head_major(float *out, const float *q, const float *k, const float *v, int T, int n_q, int n_kv, int hd) {
    int rep = n_q / n_kv, ks = n_kv * hd;
    float scale = 1.0f / sqrtf((float)hd), sc[512];
    for (int h = 0; h < n_q; h++) {
        const float *qh = q + h * hd, *kg = k + (h / rep) * hd, *vg = v + (h / rep) * hd;
        for (int t = 0; t < T; t++) {
            float d = 0.0f;
            for (int j = 0; j < hd; j++) d += qh[j] * kg[t * ks + j];
            sc[t] = scale * d;
        }
        float mx = sc[0], sum = 0.0f;
        for (int t = 1; t < T; t++) mx = sc[t] > mx ? sc[t] : mx;
        for (int t = 0; t < T; t++) sum += sc[t] = expf(sc[t] - mx);
        float inv = 1.0f / sum;
        for (int j = 0; j < hd; j++) out[h * hd + j] = 0.0f;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < hd; j++) out[h * hd + j] += sc[t] * inv * vg[t * ks + j];
    }
}

TEST(gemv_attention_decode_matches_attention_forward) {
    GemvIsa best = gemv_isa();
    /* (n_q, n_kv, hd, T): GQA with a head size that leaves a vector tail; multi-head attention over a context
     * longer than a vector, with head sizes of whole vectors */
    int shapes[][4] = {{6, 3, 20, 13}, {8, 8, 32, 77}, {4, 1, 64, 40}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int n_q = shapes[c][0], n_kv = shapes[c][1], hd = shapes[c][2], T = shapes[c][3];
        float *q = malloc(sizeof(float) * n_q * hd), *k = malloc(sizeof(float) * T * n_kv * hd);
        float *v = malloc(sizeof(float) * T * n_kv * hd), *ref = malloc(sizeof(float) * n_q * hd);
        float *out = malloc(sizeof(float) * n_q * hd), *hm = malloc(sizeof(float) * n_q * hd);
        float *att = malloc(sizeof(float) * n_q * T), *sc = malloc(sizeof(float) * n_q * T);
        fill(q, (size_t)n_q * hd, 1);
        fill(k, (size_t)T * n_kv * hd, 2);
        fill(v, (size_t)T * n_kv * hd, 3);
        attention_forward(ref, att, q, k, v, 1, T - 1, n_q, n_kv, hd, 0, 1);
        head_major(hm, q, k, v, T, n_q, n_kv, hd);
        for (int isa = GEMV_SCALAR; isa <= (int)best; isa++) {
            gemv_isa_force((GemvIsa)isa);
            attention_decode(out, sc, q, k, v, T, n_q, n_kv, hd);
            for (int i = 0; i < n_q * hd; i++) CHECK_NEAR(out[i], ref[i], 1e-5);
            if (isa == GEMV_SCALAR) CHECK(memcmp(out, hm, sizeof(float) * n_q * hd) == 0);
        }
        gemv_isa_force(best);
        free(q), free(k), free(v), free(ref), free(out), free(hm), free(att), free(sc);
    }
}

TEST(gemm_matches_the_reference_for_every_type_and_edge) {
    if (!gemm_available()) SKIP("this CPU has no AVX-512: prefill uses BLAS");
    /* (n, k, m, ldw): row blocks of 12 with a remainder, panels of 32 with a remainder, KC blocks of 256 with a
     * remainder, inputs not a multiple of 16, a weight prefix of a wider matrix */
    int shapes[][4] = {{1, 1, 1, 1}, {16, 16, 32, 16}, {25, 37, 45, 40}, {13, 300, 70, 310}, {40, 513, 33, 513},
                       {7, 48, 9, 50}, {3, 5, 2, 5}, {14, 40, 57, 40}};
    for (int dt = ST_F32; dt <= ST_BF16; dt++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int n = shapes[s][0], k = shapes[s][1], m = shapes[s][2], ld = shapes[s][3];
            size_t nw = (size_t)(m + 3) * ld;
            float *w = malloc(nw * sizeof *w), *wb = malloc(nw * sizeof *wb), *x = malloc(sizeof(float) * n * k);
            float *out = malloc(sizeof(float) * n * (m + 5));
            fill(w, nw, 30 + s);
            fill(x, (size_t)n * k, 40 + s);
            void *W = typed((StDtype)dt, w, nw, wb);
            for (int acc = 0; acc < 2; acc++) {
                for (int i = 0; i < n * (m + 5); i++) out[i] = 0.5f;
                CHECK(gemm_nt(out, m + 5, x, k, W, (StDtype)dt, ld, n, k, m, acc) == 0);
                int bad = 0;
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < m; j++) {
                        double ref = acc ? 0.5 : 0.0;
                        for (int q = 0; q < k; q++) ref += (double)x[i * k + q] * wb[(size_t)j * ld + q];
                        bad += fabs(out[i * (m + 5) + j] - ref) > 1e-4 * (1 + sqrt(k));
                    }
                    for (int j = m; j < m + 5; j++) bad += out[i * (m + 5) + j] != 0.5f; /* past m: untouched */
                }
                CHECK_MSG(bad == 0, "type %d shape %zu acc %d: %d wrong", dt, s, acc, bad);
                /* the few-rows kernel gives the same products (every row count of its 4-row groups) */
                float *out3 = malloc(sizeof(float) * n * (m + 5));
                for (int i = 0; i < n * (m + 5); i++) out3[i] = 0.5f;
                CHECK(gemm_nt_small(out3, m + 5, x, k, W, (StDtype)dt, ld, n, k, m, acc) == 0);
                bad = 0;
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < m + 5; j++)
                        bad += fabs(out3[i * (m + 5) + j] - out[i * (m + 5) + j]) > 1e-5 * (1 + sqrt(k));
                CHECK_MSG(bad == 0, "small type %d shape %zu acc %d: %d differ", dt, s, acc, bad);
                free(out3);
                /* the same product with the weights held as rows of inputs: W^T (k, ldt) */
                int ldt = m + 2;
                float *wt = malloc(sizeof(float) * k * ldt), *wtb = malloc(sizeof(float) * k * ldt);
                for (int q = 0; q < k; q++)
                    for (int j = 0; j < ldt; j++) wt[q * ldt + j] = j < m ? w[(size_t)j * ld + q] : 9.0f;
                void *Wt = typed((StDtype)dt, wt, (size_t)k * ldt, wtb);
                float *out2 = malloc(sizeof(float) * n * (m + 5));
                for (int i = 0; i < n * (m + 5); i++) out2[i] = 0.5f;
                CHECK(gemm_nn(out2, m + 5, x, k, Wt, (StDtype)dt, ldt, n, k, m, acc) == 0);
                bad = 0;
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < m + 5; j++)
                        bad += fabs(out2[i * (m + 5) + j] - out[i * (m + 5) + j]) > 1e-5 * (1 + sqrt(k));
                CHECK_MSG(bad == 0, "nn type %d shape %zu acc %d: %d differ from nt", dt, s, acc, bad);
                free(Wt), free(wt), free(wtb), free(out2);
            }
            free(W), free(w), free(wb), free(x), free(out);
        }
}

TEST(gemm_narrow_panel_gives_the_bits_of_a_full_one) {
    if (!gemm_available()) SKIP("this CPU has no AVX-512: prefill uses BLAS");
    /* a panel of at most 16 weight rows runs one vector of columns: each of its outputs must be the same
     * multiply-adds in the same order as in a full panel of 32, so the first m columns agree bit for bit */
    enum { N = 29, K = 300, FULL = 32 };
    float *w = malloc(sizeof(float) * FULL * K), *x = malloc(sizeof(float) * N * K);
    float *full = malloc(sizeof(float) * N * FULL), *part = malloc(sizeof(float) * N * FULL);
    fill(w, (size_t)FULL * K, 51);
    fill(x, (size_t)N * K, 52);
    int widths[] = {1, 8, 15, 16, 17, 24};
    for (int acc = 0; acc < 2; acc++)
        for (size_t s = 0; s < sizeof widths / sizeof widths[0]; s++) {
            int m = widths[s];
            for (int i = 0; i < N * FULL; i++) full[i] = part[i] = 0.25f * (float)(i % 7);
            CHECK(gemm_nt(full, FULL, x, K, w, ST_F32, K, N, K, FULL, acc) == 0);
            CHECK(gemm_nt(part, FULL, x, K, w, ST_F32, K, N, K, m, acc) == 0);
            int bad = 0;
            for (int i = 0; i < N; i++)
                for (int j = 0; j < m; j++) bad += memcmp(&full[i * FULL + j], &part[i * FULL + j], sizeof(float)) != 0;
            CHECK_MSG(bad == 0, "width %d acc %d: %d outputs differ from the full panel's", m, acc, bad);
        }
    free(w), free(x), free(full), free(part);
}

TEST(gemv_exponentials_match_libm_for_every_isa) {
    GemvIsa best = gemv_isa();
    float x[203], y[203], g[203], u[203], h[203];
    fill(x, 203, 50);
    for (int i = 0; i < 203; i++) x[i] *= 40.0f; /* [-40, 40]: exp across 115 binades */
    x[7] = -200.0f;                              /* underflows to (near) zero */
    fill(g, 203, 51);
    fill(u, 203, 52);
    for (int i = 0; i < 203; i++) g[i] *= 12.0f;
    for (int isa = GEMV_SCALAR; isa <= (int)best; isa++) {
        gemv_isa_force((GemvIsa)isa);
        for (int n = 1; n <= 203; n += 101) { /* 1, 102, 203: tails of every length class */
            memcpy(y, x, sizeof(float) * (size_t)n);
            float mx = x[0];
            for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
            double sum = softmax_exp(y, n), ref_sum = 0;
            for (int i = 0; i < n; i++) {
                double ref = exp((double)(x[i] - mx)); /* the float difference the kernel sees */
                ref_sum += ref;
                CHECK_MSG(fabs(y[i] - ref) <= 3e-7 * ref + 1e-37, "isa %d n %d i %d: %.9g vs %.9g", isa, n, i,
                          (double)y[i], ref);
            }
            CHECK(fabs(sum - ref_sum) <= 1e-6 * ref_sum);
        }
        swiglu_kernel(h, g, u, 203);
        for (int i = 0; i < 203; i++) {
            double ref = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
            CHECK_NEAR(h[i], ref, 1e-6 * (1 + fabs(ref)));
        }
    }
    gemv_isa_force(best);
}
