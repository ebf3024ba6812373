/* fit: fitting linear latency models with GSL (gsl_multifit_wlinear) and their error (MAPE).
 * fit_linear minimises the mean absolute relative error (MAPE itself) by iteratively reweighted least squares:
 * it starts from weights 1/y^2 (squared relative error) and reweights by 1/(y^2 |relative residual|). On data
 * that a linear model describes exactly, the first step already recovers the coefficients. */
#ifndef ELMS_FIT_H
#define ELMS_FIT_H

#include "engine/err.h"

/* fit_linear: coef (p) minimising sum |X coef - y| / y for X (n, p) row-major and y (n) > 0; n > p.
 * mape (may be NULL) receives the mean absolute percentage error of the fit, in percent. */
int fit_linear(const double *X, const double *y, int n, int p, double *coef, double *mape, Err *e);
/* fit_mape: mean |pred - y| / y in percent. */
double fit_mape(const double *pred, const double *y, int n);

#endif
