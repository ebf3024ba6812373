/* fit: weighted linear least squares with GSL, optionally with non-negative coefficients (see fit.h). */
#include "sim/fit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdlib.h>

double fit_mape(const double *pred, const double *y, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs(pred[i] - y[i]) / y[i];
    return n ? 100.0 * s / n : 0.0;
}

/* One weighted least-squares step under the bounds: the best feasible solution over the supports (subsets of
 * the bounded coefficients that may be non-zero; unbounded ones are always in). coef receives it; returns -1
 * when no support gives a solution (a failure of GSL). */
static int step_nonneg(const double *X, const gsl_vector *b, const gsl_vector *w, int n, int p, const bool *nonneg,
                       double *coef) {
    int nb = 0, bidx[FIT_MAX_COEF];
    for (int j = 0; j < p; j++)
        if (!nonneg || nonneg[j]) bidx[nb++] = j;
    double best = INFINITY;
    int found = 0;
    /* supports from the largest down: the full one first, whose solution, when feasible, is the optimum */
    for (unsigned m = 0; m < (1u << nb); m++) {
        unsigned mask = (1u << nb) - 1 - m;
        int cols[FIT_MAX_COEF], k = 0;
        bool in[FIT_MAX_COEF] = {false};
        for (int j = 0; j < p; j++) in[j] = nonneg && !nonneg[j];
        for (int q = 0; q < nb; q++)
            if (mask & (1u << q)) in[bidx[q]] = true;
        for (int j = 0; j < p; j++)
            if (in[j]) cols[k++] = j;
        double sol[FIT_MAX_COEF] = {0}, chisq = 0;
        if (k > 0) {
            gsl_matrix *A = gsl_matrix_alloc((size_t)n, (size_t)k), *cov = gsl_matrix_alloc((size_t)k, (size_t)k);
            gsl_vector *c = gsl_vector_alloc((size_t)k);
            gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc((size_t)n, (size_t)k);
            int ok = A && cov && c && ws;
            if (ok) {
                for (int i = 0; i < n; i++)
                    for (int q = 0; q < k; q++) gsl_matrix_set(A, (size_t)i, (size_t)q, X[(size_t)i * p + cols[q]]);
                ok = gsl_multifit_wlinear(A, w, b, c, cov, &chisq, ws) == GSL_SUCCESS;
            }
            if (ok)
                for (int q = 0; q < k; q++) sol[cols[q]] = gsl_vector_get(c, (size_t)q);
            if (ws) gsl_multifit_linear_free(ws);
            if (A) gsl_matrix_free(A);
            if (cov) gsl_matrix_free(cov);
            if (c) gsl_vector_free(c);
            if (!ok) continue;
        } else {
            for (int i = 0; i < n; i++) chisq += gsl_vector_get(w, (size_t)i) * gsl_vector_get(b, (size_t)i) *
                                                 gsl_vector_get(b, (size_t)i);
        }
        bool feasible = true;
        for (int q = 0; q < nb; q++)
            if (sol[bidx[q]] < 0) feasible = false;
        /* a strictly better feasible support wins; ties keep the earlier (larger) support */
        if (feasible && isfinite(chisq) && chisq < best * (1 - 1e-12)) {
            best = chisq;
            found = 1;
            for (int j = 0; j < p; j++) coef[j] = sol[j];
            if (m == 0) break; /* the unconstrained optimum is feasible: nothing can beat it */
        }
    }
    return found ? 0 : -1;
}

/* The reweighted fit; nonneg == NULL and bounded == false: no bounds. */
static int fit_irls(const double *X, const double *y, int n, int p, bool bounded, const bool *nonneg, double *coef,
                    double *mape, Err *e) {
    if (p < 1 || n <= p) return err_set(e, "fit: need more points (%d) than coefficients (%d)", n, p);
    if (bounded && p > FIT_MAX_COEF)
        return err_set(e, "fit: %d coefficients, at most %d with bounds", p, FIT_MAX_COEF);
    for (int i = 0; i < n; i++)
        if (!(y[i] > 0) || !isfinite(y[i])) return err_set(e, "fit: point %d has a non-positive time %g", i, y[i]);
    gsl_set_error_handler_off();
    gsl_matrix *A = gsl_matrix_alloc((size_t)n, (size_t)p), *cov = gsl_matrix_alloc((size_t)p, (size_t)p);
    gsl_vector *b = gsl_vector_alloc((size_t)n), *w = gsl_vector_alloc((size_t)n), *c = gsl_vector_alloc((size_t)p);
    gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc((size_t)n, (size_t)p);
    int rc = -1;
    if (!A || !cov || !b || !w || !c || !ws) {
        err_set(e, "fit: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < p; j++) gsl_matrix_set(A, (size_t)i, (size_t)j, X[(size_t)i * p + j]);
        gsl_vector_set(b, (size_t)i, y[i]);
        gsl_vector_set(w, (size_t)i, 1.0 / (y[i] * y[i]));
    }
    double best = INFINITY;
    for (int it = 0; it < 30; it++) {
        double chisq, cur[FIT_MAX_COEF];
        if (bounded) {
            if (step_nonneg(X, b, w, n, p, nonneg, cur)) {
                err_set(e, "fit: bounded least squares failed (are the regressors degenerate?)");
                goto done;
            }
            for (int j = 0; j < p; j++) gsl_vector_set(c, (size_t)j, cur[j]);
        } else if (gsl_multifit_wlinear(A, w, b, c, cov, &chisq, ws) != GSL_SUCCESS) {
            err_set(e, "fit: least squares failed (are the regressors degenerate?)");
            goto done;
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            double pred = 0;
            for (int j = 0; j < p; j++) pred += X[(size_t)i * p + j] * gsl_vector_get(c, (size_t)j);
            double rel = fabs(pred - y[i]) / y[i];
            s += rel;
            gsl_vector_set(w, (size_t)i, 1.0 / (y[i] * y[i] * (rel > 1e-6 ? rel : 1e-6)));
        }
        s = 100.0 * s / n;
        if (s < best - 1e-9) {
            best = s;
            for (int j = 0; j < p; j++) coef[j] = gsl_vector_get(c, (size_t)j);
        } else if (it > 0) {
            break;
        }
    }
    if (mape) *mape = best;
    rc = 0;
done:
    if (ws) gsl_multifit_linear_free(ws);
    if (A) gsl_matrix_free(A);
    if (cov) gsl_matrix_free(cov);
    if (b) gsl_vector_free(b);
    if (w) gsl_vector_free(w);
    if (c) gsl_vector_free(c);
    return rc;
}

int fit_least_squares_nonneg(const double *X, const double *y, int n, int p, double *coef, double *rmse, Err *e) {
    if (p < 1 || n <= p) return err_set(e, "fit: need more points (%d) than coefficients (%d)", n, p);
    if (p > FIT_MAX_COEF) return err_set(e, "fit: %d coefficients, at most %d with bounds", p, FIT_MAX_COEF);
    gsl_set_error_handler_off();
    gsl_vector *b = gsl_vector_alloc((size_t)n), *w = gsl_vector_alloc((size_t)n);
    int rc = -1;
    if (!b || !w) {
        err_set(e, "fit: out of memory");
    } else {
        for (int i = 0; i < n; i++) {
            if (!isfinite(y[i])) {
                err_set(e, "fit: point %d is not finite", i);
                goto done;
            }
            gsl_vector_set(b, (size_t)i, y[i]);
            gsl_vector_set(w, (size_t)i, 1.0);
        }
        if (step_nonneg(X, b, w, n, p, NULL, coef)) {
            err_set(e, "fit: bounded least squares failed (are the regressors degenerate?)");
            goto done;
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            double r = -y[i];
            for (int j = 0; j < p; j++) r += X[(size_t)i * p + j] * coef[j];
            s += r * r;
        }
        if (rmse) *rmse = sqrt(s / n);
        rc = 0;
    }
done:
    if (b) gsl_vector_free(b);
    if (w) gsl_vector_free(w);
    return rc;
}

int fit_linear(const double *X, const double *y, int n, int p, double *coef, double *mape, Err *e) {
    return fit_irls(X, y, n, p, false, NULL, coef, mape, e);
}

int fit_linear_nonneg(const double *X, const double *y, int n, int p, const bool *nonneg, double *coef,
                      double *mape, Err *e) {
    return fit_irls(X, y, n, p, true, nonneg, coef, mape, e);
}
