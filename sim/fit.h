/* fit: fitting linear latency models with GSL (gsl_multifit_wlinear) and their error (MAPE).
 * fit_linear minimises the mean absolute relative error (MAPE itself) by iteratively reweighted least squares:
 * it starts from weights 1/y^2 (squared relative error) and reweights by 1/(y^2 |relative residual|). On data
 * that a linear model describes exactly, the first step already recovers the coefficients.
 * fit_linear_nonneg does the same with some coefficients bounded below by zero as part of the fit (not clamped
 * after it): every reweighted step is an exact non-negative least squares (see below), and since each step
 * minimises a majoriser of the MAPE over the feasible set, the MAPE still never increases. */
#ifndef ELMS_FIT_H
#define ELMS_FIT_H

#include <stdbool.h>

#include "engine/err.h"

#define FIT_MAX_COEF 9 /* coefficients of fit_linear_nonneg (2^bounded subsets are solved per step): the prefill
                        * fit's nine with an adapter and two regimes */

/* fit_linear: coef (p) minimising sum |X coef - y| / y for X (n, p) row-major and y (n) > 0; n > p.
 * mape (may be NULL) receives the mean absolute percentage error of the fit, in percent. */
int fit_linear(const double *X, const double *y, int n, int p, double *coef, double *mape, Err *e);
/* fit_linear_nonneg: as fit_linear, subject to coef[j] >= 0 for every j with nonneg[j] (nonneg NULL: every j);
 * p <= FIT_MAX_COEF. Each weighted least-squares step is solved exactly under the bounds: the bounded optimum is
 * the unconstrained least-squares solution on its own support (KKT), so the step solves every subset of the
 * bounded coefficients left free and keeps the feasible solution of least weighted error. */
int fit_linear_nonneg(const double *X, const double *y, int n, int p, const bool *nonneg, double *coef,
                      double *mape, Err *e);
/* fit_least_squares_nonneg: coef (p <= FIT_MAX_COEF), every one >= 0, minimising sum (X coef - y)^2 for X (n, p)
 * row-major and y (n) of any sign (for small quantities measured as differences, whose relative error means
 * nothing); n > p. rmse (may be NULL) receives the root mean squared error. */
int fit_least_squares_nonneg(const double *X, const double *y, int n, int p, double *coef, double *rmse, Err *e);
/* fit_mape: mean |pred - y| / y in percent. */
double fit_mape(const double *pred, const double *y, int n);

#endif
