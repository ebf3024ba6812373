/* latfit: fitting the prefill and decode cost models to timed points, with a held-out error (see latfit.h). */
#include "sim/latfit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_min.h>
#include <math.h>
#include <stdlib.h>

#include "sim/fit.h"

const double latfit_sharpness[LATFIT_N_SHARPNESS] = {1, 2, 4, 8, 16, 32, 64};

#define MB 1e-6 /* byte regressors are fitted in megabytes (coefficients near 1e-2 rather than 1e-8) */

/* The error of pts[i].predicted_ms over the points with held_out == held (-1 when there are none). */
static double split_mape(const LatPoint *pts, int n, bool held) {
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (pts[i].held_out == held) {
            s += fabs(pts[i].predicted_ms - pts[i].ms) / pts[i].ms;
            k++;
        }
    return k ? 100.0 * s / k : -1.0;
}

/* The fitted points' times into y; returns their number. */
static int fit_times(const LatPoint *pts, int n, double *y) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!pts[i].held_out) y[k++] = pts[i].ms;
    return k;
}

/* any_adapter: whether a fitted point runs an adapter (its coefficient is fitted only then) */
static bool any_adapter(const LatPoint *pts, int n) {
    for (int i = 0; i < n; i++)
        if (!pts[i].held_out && pts[i].shape.adapter > 0) return true;
    return false;
}

/* lengths_fitted: whether the fitted points of pts hold two or more distinct prompt lengths below p's gemm threshold
 * (below) or at and above it (!below) */
static bool lengths_fitted(const Profile *p, const LatPoint *pts, int n, bool below) {
    double first = -1;
    for (int i = 0; i < n; i++)
        if (!pts[i].held_out && (pts[i].tokens < p->prefill_gemm_rows) == below) {
            if (first < 0) first = pts[i].tokens;
            else if (pts[i].tokens != first) return true;
        }
    return false;
}

int latfit_prefill(Profile *p, LatPoint *pts, int n, Err *e) {
    size_t cap = (size_t)(n > 0 ? n : 1);
    /* each regime's weights and per-token terms need two lengths of its own; else one regime */
    if (!lengths_fitted(p, pts, n, true) || !lengths_fitted(p, pts, n, false)) p->prefill_gemm_rows = 0;
    bool ad = any_adapter(pts, n), few = p->prefill_gemm_rows > 0;
    /* the adapter's two columns: per token and per pass (its small products' calls, which the short prompts of
     * level 0.2 felt most: without it the fit priced them 3-9% low at their own timed points) */
    int np = 5 + 2 * ad + 2 * few, col_ad = 5, col_few = 5 + 2 * ad;
    double *X = calloc(cap * 9, sizeof *X), *y = calloc(cap, sizeof *y);
    if (!X || !y) {
        free(X);
        free(y);
        return err_set(e, "prefill fit: out of memory");
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (pts[i].held_out) continue;
        double t = pts[i].tokens, lin = pts[i].shape.lin, below = t < p->prefill_gemm_rows;
        double *x = X + (size_t)np * k++;
        x[0] = 1, x[1] = below ? 0 : lin, x[2] = t, x[3] = t * lin, x[4] = t * t * pts[i].shape.kv;
        if (ad) x[col_ad] = t * pts[i].shape.adapter, x[col_ad + 1] = pts[i].shape.adapter;
        if (few) x[col_few] = below ? lin : 0, x[col_few + 1] = below ? t * lin : 0;
    }
    fit_times(pts, n, y);
    double c[9] = {0};
    int rc = fit_linear_nonneg(X, y, k, np, NULL, c, NULL, e);
    free(X);
    free(y);
    if (rc) return err_prefix(e, "prefill fit");
    p->prefill_a = c[0], p->prefill_w = c[1], p->prefill_b0 = c[2], p->prefill_b = c[3], p->prefill_c = c[4];
    p->prefill_adapter = ad ? c[col_ad] : 0;
    p->prefill_adapter_pass = ad ? c[col_ad + 1] : 0;
    p->prefill_few_w = few ? c[col_few] : 0;
    p->prefill_few = few ? c[col_few + 1] : 0;
    for (int i = 0; i < n; i++) pts[i].predicted_ms = profile_prefill_ms(p, &pts[i].shape, pts[i].tokens);
    p->fit_prefill_mape = split_mape(pts, n, false);
    p->fit_prefill_heldout_mape = split_mape(pts, n, true);
    return 0;
}

/* The decode fit for one cache capacity C and knee sharpness ks (C <= 0: no cache term, 3 coefficients). */
typedef struct DecodeFit {
    const double *W, *KV, *y; /* fitted points: weight and KV bytes, times */
    const double *A;          /* the fitted points' adapter shares, or NULL: no adapter term */
    int k;
    double ks;                /* knee sharpness of this fit */
    double *X;                /* (k, 6) scratch */
    double coef[6];           /* d0, dc, dx, dkv (per MB), d_adapter, d_adapter beyond the cache */
    double mape;
    Err *e;
    int failed;
} DecodeFit;

static double decode_fit_at(double C, void *arg) {
    DecodeFit *f = arg;
    /* the adapter's columns last: its share, and with a cache its share times (1 - h) */
    int nc = C > 0 ? 4 : 3, na = f->A ? (nc == 4 && f->k > nc + 2 ? 2 : 1) : 0, np = nc + na;
    for (int i = 0; i < f->k; i++) {
        double S = f->W[i] + f->KV[i], h = profile_cache_share(C, f->ks, S);
        double *x = f->X + (size_t)np * i;
        x[0] = 1, x[1] = S * MB;
        if (nc == 4) x[2] = S * (1 - h) * MB, x[3] = f->KV[i] * MB;
        else x[2] = f->KV[i] * MB;
        if (na > 0) x[nc] = f->A[i];
        if (na > 1) x[nc + 1] = f->A[i] * (1 - h);
    }
    double c[6] = {0}, mape;
    if (fit_linear_nonneg(f->X, f->y, f->k, np, NULL, c, &mape, f->e)) {
        f->failed = 1;
        return INFINITY;
    }
    f->coef[0] = c[0], f->coef[1] = c[1];
    f->coef[2] = nc == 4 ? c[2] : 0, f->coef[3] = nc == 4 ? c[3] : c[2];
    f->coef[4] = na > 0 ? c[nc] : 0;
    f->coef[5] = na > 1 ? c[nc + 1] : 0;
    f->mape = mape;
    return mape;
}

/* The best C for f->ks: the log grid, then Brent's method around its best value; *C = fixed when fixed >= 0.
 * Returns the MAPE (INFINITY with f->failed on a failure). */
static double decode_best_capacity(DecodeFit *f, double smin, double smax, double fixed, double *C) {
    if (fixed >= 0) {
        *C = fixed;
        return decode_fit_at(fixed, f);
    }
    enum { K = 40 };
    double grid[K], val[K], best = INFINITY, lo = smin / 8, hi = 2 * smax;
    int kb = -1;
    for (int g = 0; !f->failed && g < K; g++) {
        grid[g] = lo * pow(hi / lo, (double)g / (K - 1));
        val[g] = decode_fit_at(grid[g], f);
        if (val[g] < best - 1e-9) best = val[g], kb = g;
    }
    if (f->failed || kb < 0) return INFINITY;
    *C = grid[kb];
    if (kb > 0 && kb < K - 1 && val[kb] < val[kb - 1] && val[kb] < val[kb + 1]) {
        gsl_set_error_handler_off();
        gsl_function fn = {decode_fit_at, f};
        gsl_min_fminimizer *m = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
        if (m && gsl_min_fminimizer_set_with_values(m, &fn, grid[kb], val[kb], grid[kb - 1], val[kb - 1], grid[kb + 1],
                                                    val[kb + 1]) == GSL_SUCCESS) {
            for (int it = 0; it < 60 && !f->failed; it++) {
                if (gsl_min_fminimizer_iterate(m) != GSL_SUCCESS) break;
                double a = gsl_min_fminimizer_x_lower(m), b = gsl_min_fminimizer_x_upper(m);
                if (gsl_min_test_interval(a, b, 0, 1e-4) == GSL_SUCCESS) break;
            }
            double xm = gsl_min_fminimizer_x_minimum(m), fm = gsl_min_fminimizer_f_minimum(m);
            if (!f->failed && fm < best) best = fm, *C = xm;
        }
        if (m) gsl_min_fminimizer_free(m);
    }
    return f->failed ? INFINITY : best;
}

int latfit_decode(Profile *p, LatPoint *pts, int n, double cache_bytes, Err *e) {
    size_t cap = (size_t)(n > 0 ? n : 1);
    double *W = calloc(cap, sizeof *W), *KV = calloc(cap, sizeof *KV), *y = calloc(cap, sizeof *y);
    double *X = calloc(cap * 6, sizeof *X), *A = calloc(cap, sizeof *A);
    int rc = -1;
    if (!W || !KV || !y || !X || !A) {
        err_set(e, "decode fit: out of memory");
        goto done;
    }
    int k = 0;
    double smin = INFINITY, smax = 0;
    for (int i = 0; i < n; i++) {
        if (pts[i].held_out) continue;
        profile_decode_bytes(p, &pts[i].shape, pts[i].tokens, &W[k], &KV[k]);
        A[k] = pts[i].shape.adapter;
        double s = W[k] + KV[k];
        smin = s < smin ? s : smin;
        smax = s > smax ? s : smax;
        k++;
    }
    fit_times(pts, n, y);
    DecodeFit f = {W, KV, y, any_adapter(pts, n) ? A : NULL, k, 1, X, {0}, 0, e, 0};
    /* no cache competes first and wins ties; then every sharpness of the grid with its best capacity */
    double C = 0, ks = latfit_sharpness[0], best = cache_bytes > 0 ? INFINITY : decode_fit_at(0, &f);
    if (f.failed) goto fail;
    for (int j = 0; cache_bytes != 0 && smax > 0 && j < LATFIT_N_SHARPNESS; j++) {
        f.ks = latfit_sharpness[j];
        double c = 0, v = decode_best_capacity(&f, smin, smax, cache_bytes, &c);
        if (f.failed) goto fail;
        if (v < best - 1e-9) best = v, C = c, ks = f.ks;
    }
    f.ks = ks;
    decode_fit_at(C, &f); /* the coefficients of the chosen C and sharpness */
    if (f.failed) goto fail;
    p->cache_sharpness = ks;
    p->cache_bytes = C;
    p->decode_const = f.coef[0];
    p->decode_cache = f.coef[1] * MB;
    p->decode_dram = (f.coef[1] + f.coef[2]) * MB;
    p->decode_kv = f.coef[3] * MB;
    p->decode_adapter = f.coef[4];
    p->decode_adapter_dram = f.coef[5];
    for (int i = 0; i < n; i++) pts[i].predicted_ms = profile_decode_ms(p, &pts[i].shape, pts[i].tokens);
    p->fit_decode_mape = split_mape(pts, n, false);
    p->fit_decode_heldout_mape = split_mape(pts, n, true);
    rc = 0;
    goto done;
fail:
    err_prefix(e, "decode fit");
done:
    free(W);
    free(KV);
    free(y);
    free(X);
    free(A);
    return rc;
}

/* rmse: the root mean squared error of the points of pts held out (held) or fitted (!held), or -1 when none. */
static double split_rmse(const LatPoint *pts, int n, bool held) {
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (pts[i].held_out == held) {
            double r = pts[i].predicted_ms - pts[i].ms;
            s += r * r;
            k++;
        }
    return k ? sqrt(s / k) : -1;
}

int latfit_warmup(Profile *p, LatPoint *pts, int n, Err *e) {
    enum { P = 3 }; /* regressors 1, h, S h^2 (S in MB, so that the columns are of like size) */
    double *X = calloc((size_t)(n > 0 ? n : 1) * P, sizeof *X), *y = calloc((size_t)(n > 0 ? n : 1), sizeof *y);
    if (!X || !y) {
        free(X);
        free(y);
        return err_set(e, "warm-up fit: out of memory");
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (pts[i].held_out) continue;
        double w, kv;
        profile_decode_bytes(p, &pts[i].shape, pts[i].tokens, &w, &kv);
        double h = profile_cache_share(p->cache_bytes, p->cache_sharpness, w + kv);
        X[P * k] = 1;
        X[P * k + 1] = h;
        X[P * k + 2] = (w + kv) * h * h / 1e6;
        y[k++] = pts[i].ms;
    }
    double c[P] = {0};
    int rc = fit_least_squares_nonneg(X, y, k, P, c, NULL, e);
    free(X);
    free(y);
    if (rc) return err_prefix(e, "warm-up fit");
    p->warmup_ms = c[0];
    p->warmup_cached_ms = c[1];
    p->warmup_cached_byte_ms = c[2] / 1e6;
    for (int i = 0; i < n; i++) pts[i].predicted_ms = profile_warmup_ms(p, &pts[i].shape, pts[i].tokens);
    p->fit_warmup_rmse_ms = split_rmse(pts, n, false);
    p->fit_warmup_heldout_rmse_ms = split_rmse(pts, n, true);
    return 0;
}
