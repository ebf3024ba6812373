/* Gradient checks of every backward kernel in engine/ops.c against central finite differences.
 *
 * Each op is wrapped in a scalar objective L = sum_i r_i * out_i with fixed random weights r (for cross-entropy,
 * L is the summed loss itself). The analytic gradient comes from the backward kernel with dout = r; the numeric
 * one is (L(x + eps e_j) - L(x - eps e_j)) / (2 eps) with the forward kernel in fp32 and L summed in double.
 *
 * Tolerance: |analytic - numeric| <= RTOL * max(|analytic|, |numeric|) + ATOL with eps = 1e-2, RTOL = 1e-2 and
 * ATOL = 2e-4, over a random subset of coordinates. Why: inputs are O(1), so the truncation error of central
 * differences is O(eps^2 * |f'''|) ~ 1e-4; fp32 rounding of the outputs an entry touches is ~6e-8 relative, which
 * divided by 2 eps gives an absolute error of ~1e-5 per touched output (summed over a few dozen of them: ~1e-4).
 * A wrong backward (a missing term, a wrong sign or index) is off by O(1) relative on most coordinates. */
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops.h"
#include "tests/test.h"

#define EPS 1e-2f
#define RTOL 1e-2
#define ATOL 2e-4

static void fill(float *x, size_t n, gsl_rng *r, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((2.0 * gsl_rng_uniform(r) - 1.0) * scale);
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* The objective as a function of the current inputs (closure over a test-specific struct). */
typedef double (*Objective)(void *ctx);

/* Compare analytic gradient g of the objective with respect to x (n) on up to `samples` random coordinates (all
 * when n <= samples). Returns the number of mismatches and reports the worst. */
static int grad_check(TestCtx *t, const char *name, Objective f, void *ctx, float *x, const float *g, size_t n,
                      int samples, gsl_rng *r) {
    int bad = 0;
    double worst = 0.0;
    size_t m = n <= (size_t)samples ? n : (size_t)samples;
    for (size_t s = 0; s < m; s++) {
        size_t j = n <= (size_t)samples ? s : (size_t)gsl_rng_uniform_int(r, n);
        float keep = x[j];
        x[j] = keep + EPS;
        double lp = f(ctx);
        x[j] = keep - EPS;
        double lm = f(ctx);
        x[j] = keep;
        double num = (lp - lm) / (2.0 * (double)EPS), ana = (double)g[j];
        double err = fabs(num - ana), tol = RTOL * fmax(fabs(num), fabs(ana)) + ATOL;
        if (err / tol > worst) worst = err / tol;
        if (!(err <= tol)) {
            if (bad < 3) fprintf(stderr, "  %s[%zu]: analytic %.6g numeric %.6g\n", name, j, ana, num);
            bad++;
        }
    }
    if (getenv("GRAD_VERBOSE")) fprintf(stderr, "  %s: worst error/tol %.3g over %zu\n", name, worst, m);
    CHECK_MSG(bad == 0, "%s: %d of %zu coordinates outside tolerance (worst error/tol %.3g)", name, bad, m, worst);
    return bad;
}

/* ---- matmuls ---- */

typedef struct MmCtx {
    float *x, *w, *out, *r;
    int n, k, m, ldx, ldw, nn; /* nn: matmul_nn instead of matmul_nt */
} MmCtx;

static double mm_obj(void *p) {
    MmCtx *c = p;
    if (c->nn) matmul_nn(c->out, c->x, c->ldx, c->w, c->ldw, c->n, c->k, c->m, 0);
    else matmul_nt(c->out, c->x, c->w, c->n, c->k, c->m, c->ldw, 0);
    return dot(c->out, c->r, (size_t)c->n * c->m);
}

TEST(grad_matmul_nt_and_nn) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 11);
    for (int nn = 0; nn < 2; nn++) {
        int n = 5, k = 7, m = 6;
        /* nt: w (m, k) rows of stride ldw = k + 3 (a row prefix); nn: x has stride k + 2, w (k, m) stride m + 4 */
        int ldx = nn ? k + 2 : k, ldw = nn ? m + 4 : k + 3;
        size_t nw = nn ? (size_t)k * ldw : (size_t)m * ldw;
        float *x = calloc((size_t)n * ldx, 4), *w = calloc(nw, 4), *out = calloc((size_t)n * m, 4);
        float *rr = calloc((size_t)n * m, 4), *dx = calloc((size_t)n * ldx, 4), *dw = calloc(nw, 4);
        fill(x, (size_t)n * ldx, r, 1.0);
        fill(w, nw, r, 1.0);
        fill(rr, (size_t)n * m, r, 1.0);
        fill(dx, (size_t)n * ldx, r, 1.0); /* overwritten (accumulate = 0) except the stride gaps */
        MmCtx c = {x, w, out, rr, n, k, m, ldx, ldw, nn};
        float *before = malloc((size_t)n * ldx * 4);
        memcpy(before, dx, (size_t)n * ldx * 4);
        if (nn) {
            matmul_nn_backward(dx, dw, rr, x, ldx, w, ldw, n, k, m, 0);
            /* columns k..ldx-1 of every row lie outside x: untouched, and their true gradient is 0 */
            for (int i = 0; i < n; i++)
                for (int j = k; j < ldx; j++) {
                    CHECK_MSG(dx[i * ldx + j] == before[i * ldx + j], "stride gap of dx written at (%d, %d)", i, j);
                    dx[i * ldx + j] = 0.0f;
                }
        } else {
            matmul_nt_backward(dx, dw, rr, x, w, n, k, m, ldw, 0);
        }
        /* weight entries outside the used block must have no gradient */
        if (nn) CHECK(dw[m] == 0.0f && dw[m + 3] == 0.0f);
        else CHECK(dw[k] == 0.0f && dw[k + 2] == 0.0f);
        grad_check(t, nn ? "matmul_nn dx" : "matmul_nt dx", mm_obj, &c, x, dx, (size_t)n * ldx, 1000, r);
        grad_check(t, nn ? "matmul_nn dw" : "matmul_nt dw", mm_obj, &c, w, dw, nw, 1000, r);
        /* accumulate = 1 adds to dx */
        float *dx2 = calloc((size_t)n * ldx, 4), *dw2 = calloc(nw, 4);
        for (size_t i = 0; i < (size_t)n * ldx; i++) dx2[i] = 1.0f;
        if (nn) matmul_nn_backward(dx2, dw2, rr, x, ldx, w, ldw, n, k, m, 1);
        else matmul_nt_backward(dx2, dw2, rr, x, w, n, k, m, ldw, 1);
        CHECK_NEAR(dx2[1], dx[1] + 1.0f, 1e-5);
        free(x), free(w), free(out), free(rr), free(dx), free(dw), free(dx2), free(dw2), free(before);
    }
    gsl_rng_free(r);
}

/* ---- RMSNorm ---- */

typedef struct NormCtx {
    float *x, *w, *out, *r;
    int n, dim;
} NormCtx;

static double norm_obj(void *p) {
    NormCtx *c = p;
    rmsnorm_forward(c->out, NULL, c->x, c->w, c->n, c->dim, 1e-5f);
    return dot(c->out, c->r, (size_t)c->n * c->dim);
}

TEST(grad_rmsnorm) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 12);
    int n = 4, dim = 9;
    float x[36], w[9], out[36], rr[36], rstd[4], dx[36] = {0}, dw[9] = {0};
    fill(x, 36, r, 1.5);
    fill(w, 9, r, 1.0);
    fill(rr, 36, r, 1.0);
    NormCtx c = {x, w, out, rr, n, dim};
    rmsnorm_forward(out, rstd, x, w, n, dim, 1e-5f);
    rmsnorm_backward(dx, dw, rr, x, w, rstd, n, dim);
    grad_check(t, "rmsnorm dx", norm_obj, &c, x, dx, 36, 1000, r);
    grad_check(t, "rmsnorm dw", norm_obj, &c, w, dw, 9, 1000, r);
    gsl_rng_free(r);
}

/* ---- rotary embeddings ---- */

typedef struct RopeCtx {
    float *x, *tmp, *r;
    int n, heads, hd, pos0;
} RopeCtx;

static double rope_obj(void *p) {
    RopeCtx *c = p;
    size_t len = (size_t)c->n * c->heads * c->hd;
    memcpy(c->tmp, c->x, len * 4);
    rope_forward(c->tmp, c->n, c->heads, c->hd, c->pos0, 10000.0f);
    return dot(c->tmp, c->r, len);
}

TEST(grad_rope_and_table) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 13);
    int n = 5, heads = 3, hd = 8, pos0 = 4, len = n * heads * hd;
    float x[120], tmp[120], rr[120], dx[120];
    fill(x, 120, r, 1.0);
    fill(rr, 120, r, 1.0);
    RopeCtx c = {x, tmp, rr, n, heads, hd, pos0};
    memcpy(dx, rr, sizeof dx);
    rope_backward(dx, n, heads, hd, pos0, 10000.0f);
    grad_check(t, "rope dx", rope_obj, &c, x, dx, (size_t)len, 1000, r);
    /* the table kernels are bitwise the table-free ones, both directions */
    float cs[9 * 4], sn[9 * 4], a[120], b[120];
    rope_table(cs, sn, pos0 + n, hd, 10000.0f);
    memcpy(a, x, sizeof a);
    memcpy(b, x, sizeof b);
    rope_forward(a, n, heads, hd, pos0, 10000.0f);
    rope_apply(b, n, heads, hd, pos0, cs, sn, 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    rope_backward(a, n, heads, hd, pos0, 10000.0f);
    rope_apply(b, n, heads, hd, pos0, cs, sn, 1);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* and backward inverts forward */
    double d = 0;
    for (int i = 0; i < len; i++) d = fmax(d, fabs(a[i] - x[i]));
    CHECK_NEAR(d, 0.0, 1e-5);
    gsl_rng_free(r);
}

/* ---- grouped-query attention, causal and bidirectional ---- */

typedef struct AttCtx {
    float *q, *k, *v, *out, *att, *r;
    int n, pos0, nq, nkv, hd, causal;
} AttCtx;

static double att_obj(void *p) {
    AttCtx *c = p;
    attention_forward(c->out, c->att, c->q, c->k, c->v, c->n, c->pos0, c->nq, c->nkv, c->hd, 1, c->causal);
    return dot(c->out, c->r, (size_t)c->n * c->nq * c->hd);
}

/* attention_grad_case: dq, dk, dv of attention (causal or bidirectional) against finite differences; 4 query heads
 * over 2 KV groups; the second case has earlier cached positions (pos0 > 0). */
static void attention_grad_case(TestCtx *t, int causal, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (int pos0 = 0; pos0 <= 3; pos0 += 3) {
        int n = 6, nq = 4, nkv = 2, hd = 4, T = pos0 + n;
        size_t qn = (size_t)n * nq * hd, kn = (size_t)T * nkv * hd;
        float *q = malloc(qn * 4), *k = malloc(kn * 4), *v = malloc(kn * 4), *out = malloc(qn * 4);
        float *att = malloc((size_t)nq * n * T * 4), *rr = malloc(qn * 4), *dq = malloc(qn * 4);
        float *dk = malloc(kn * 4), *dv = malloc(kn * 4), *scr = malloc((size_t)n * T * 4);
        fill(q, qn, r, 1.5);
        fill(k, kn, r, 1.5);
        fill(v, kn, r, 1.0);
        fill(rr, qn, r, 1.0);
        AttCtx c = {q, k, v, out, att, rr, n, pos0, nq, nkv, hd, causal};
        att_obj(&c);
        attention_backward(dq, dk, dv, scr, rr, att, q, k, v, n, pos0, nq, nkv, hd, 0, causal);
        grad_check(t, "attention dq", att_obj, &c, q, dq, qn, 1000, r);
        grad_check(t, "attention dk", att_obj, &c, k, dk, kn, 1000, r);
        grad_check(t, "attention dv", att_obj, &c, v, dv, kn, 1000, r);
        free(q), free(k), free(v), free(out), free(att), free(rr), free(dq), free(dk), free(dv), free(scr);
    }
    gsl_rng_free(r);
}

TEST(grad_attention_causal_gqa) { attention_grad_case(t, 1, 14); }

TEST(grad_attention_bidirectional_gqa) { attention_grad_case(t, 0, 15); }

/* ---- SwiGLU ---- */

typedef struct SwiCtx {
    float *g, *u, *h, *r;
    size_t n;
} SwiCtx;

static double swi_obj(void *p) {
    SwiCtx *c = p;
    swiglu_forward(c->h, c->g, c->u, c->n);
    return dot(c->h, c->r, c->n);
}

TEST(grad_swiglu) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 15);
    float g[40], u[40], h[40], rr[40], dg[40], du[40];
    fill(g, 40, r, 4.0); /* covers both tails of the sigmoid */
    fill(u, 40, r, 1.0);
    fill(rr, 40, r, 1.0);
    SwiCtx c = {g, u, h, rr, 40};
    swiglu_backward(dg, du, rr, g, u, 40);
    grad_check(t, "swiglu dg", swi_obj, &c, g, dg, 40, 1000, r);
    grad_check(t, "swiglu du", swi_obj, &c, u, du, 40, 1000, r);
    gsl_rng_free(r);
}

/* ---- embedding ---- */

typedef struct EmbCtx {
    float *table, *out, *r;
    const int *tok;
    int n, dim;
} EmbCtx;

static double emb_obj(void *p) {
    EmbCtx *c = p;
    embedding_forward(c->out, c->table, c->tok, c->n, c->dim);
    return dot(c->out, c->r, (size_t)c->n * c->dim);
}

TEST(grad_embedding) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 16);
    int tok[6] = {3, 0, 3, 5, 1, 3}; /* repeated ids must sum */
    float table[7 * 5], out[30], rr[30], dt[35] = {0};
    fill(table, 35, r, 1.0);
    fill(rr, 30, r, 1.0);
    EmbCtx c = {table, out, rr, tok, 6, 5};
    embedding_backward(dt, rr, tok, 6, 5);
    grad_check(t, "embedding dtable", emb_obj, &c, table, dt, 35, 1000, r);
    CHECK(dt[2 * 5] == 0.0f && dt[6 * 5 + 4] == 0.0f); /* unused rows */
    gsl_rng_free(r);
}

/* ---- cross-entropy ---- */

typedef struct CeCtx {
    float *logits;
    const int *tgt;
    int n, vocab;
} CeCtx;

static double ce_obj(void *p) {
    CeCtx *c = p;
    return 0.5 * cross_entropy_forward(NULL, c->logits, c->tgt, c->n, c->vocab);
}

TEST(grad_cross_entropy) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 17);
    int n = 4, V = 11, tgt[4] = {2, -1, 10, 0}; /* row 1 is ignored */
    float logits[44], d[44], loss[4];
    fill(logits, 44, r, 3.0);
    CeCtx c = {logits, tgt, n, V};
    /* forward against a double-precision reference */
    double total = cross_entropy_forward(loss, logits, tgt, n, V), ref_total = 0.0;
    for (int i = 0; i < n; i++) {
        if (tgt[i] < 0) {
            CHECK(loss[i] == 0.0f);
            continue;
        }
        double s = 0.0;
        for (int j = 0; j < V; j++) s += exp((double)logits[i * V + j]);
        double ref = log(s) - logits[i * V + tgt[i]];
        CHECK_NEAR(loss[i], ref, 1e-5);
        ref_total += ref;
    }
    CHECK_NEAR(total, ref_total, 1e-5);
    /* backward out of place, then in place gives the same */
    cross_entropy_backward(d, logits, tgt, n, V, 0.5f);
    grad_check(t, "cross-entropy dlogits", ce_obj, &c, logits, d, 44, 1000, r);
    for (int j = 0; j < V; j++) CHECK(d[1 * V + j] == 0.0f);
    float inplace[44];
    memcpy(inplace, logits, sizeof inplace);
    cross_entropy_backward(inplace, inplace, tgt, n, V, 0.5f);
    CHECK(memcmp(inplace, d, sizeof d) == 0);
    gsl_rng_free(r);
}

/* ---- binary cross-entropy on logits ---- */

typedef struct BceCtx {
    float *logits;
    const int *tgt;
    int n;
} BceCtx;

static double bce_obj(void *p) {
    BceCtx *c = p;
    return 0.5 * bce_logits_forward(NULL, c->logits, c->tgt, c->n);
}

TEST(grad_bce_logits) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 18);
    enum { N = 9 };
    int tgt[N] = {1, 0, -1, 1, 1, 0, 0, -1, 1};
    float logits[N], d[N], loss[N];
    fill(logits, N, r, 4.0);
    logits[3] = 60.0f; /* far into saturation on both sides: no overflow, finite loss */
    logits[5] = -60.0f;
    BceCtx c = {logits, tgt, N};
    /* forward against -y log p - (1 - y) log(1 - p) in double */
    double total = bce_logits_forward(loss, logits, tgt, N), ref_total = 0.0;
    for (int i = 0; i < N; i++) {
        if (tgt[i] < 0) {
            CHECK(loss[i] == 0.0f);
            continue;
        }
        double x = logits[i], ref = tgt[i] ? log1p(exp(-x)) : log1p(exp(x));
        CHECK_NEAR(loss[i], ref, 1e-5);
        ref_total += ref;
    }
    CHECK_NEAR(total, ref_total, 1e-5);
    bce_logits_backward(d, logits, tgt, N, 0.5f);
    grad_check(t, "bce dlogits", bce_obj, &c, logits, d, N, 1000, r);
    CHECK(d[2] == 0.0f && d[7] == 0.0f);
    float inplace[N];
    memcpy(inplace, logits, sizeof inplace);
    bce_logits_backward(inplace, inplace, tgt, N, 0.5f);
    CHECK(memcmp(inplace, d, sizeof d) == 0);
    gsl_rng_free(r);
}
