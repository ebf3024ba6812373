/* fit: weighted linear least squares with GSL (see fit.h). */
#include "sim/fit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>
#include <math.h>

double fit_mape(const double *pred, const double *y, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs(pred[i] - y[i]) / y[i];
    return n ? 100.0 * s / n : 0.0;
}

int fit_linear(const double *X, const double *y, int n, int p, double *coef, double *mape, Err *e) {
    if (p < 1 || n <= p) return err_set(e, "fit: need more points (%d) than coefficients (%d)", n, p);
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
        double chisq;
        if (gsl_multifit_wlinear(A, w, b, c, cov, &chisq, ws) != GSL_SUCCESS) {
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
