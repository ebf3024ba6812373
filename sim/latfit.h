/* latfit: fitting a profile's prefill and decode cost models (sim/profile.h) to timed points, with held-out
 * points that the fit never sees and whose error is reported apart.
 * Both fits minimise the MAPE of the fitted points with every coefficient non-negative as part of the fit
 * (fit_linear_nonneg: no intercept or slope is clamped afterwards):
 *   prefill_ms = a + w lin + b0 n + b n lin + c n^2 kv
 *   decode_ms  = d0 + W (h dc + (1 - h) dd) + dkv KV,  h = min(1, C / (W + KV)),  dd = dc + dx, dx >= 0
 * For a given cache capacity C the decode model is linear in (d0, dc, dx, dkv): regressors 1, W, W (1 - h), KV.
 * C itself is either given (measured) or fitted: the MAPE is minimised over C by a log-spaced grid between an
 * eighth of the smallest and the largest working set W + KV of the fitted points, refined by Brent's method
 * (GSL) around the best grid value; a model without a cache term (C = 0, dc = dd) competes too and wins ties,
 * so a cache is only reported when it lowers the error. Deterministic: no random restarts. */
#ifndef ELMS_LATFIT_H
#define ELMS_LATFIT_H

#include <stdbool.h>

#include "engine/err.h"
#include "sim/profile.h"

typedef struct LatPoint {
    CostShape shape;     /* the configuration's work relative to the profile's target */
    double tokens;       /* prompt tokens n (prefill) or mean context ctx (decode) */
    double ms;           /* measured time, > 0 */
    bool held_out;       /* not used by the fit; its error is reported apart */
    double predicted_ms; /* out: the fitted profile's price */
} LatPoint;

/* latfit_prefill: fit p's prefill coefficients (a, w, b0, b, c) on the points of pts not held out (more than 5);
 * sets p->fit_prefill_mape (fitted points) and p->fit_prefill_heldout_mape (held-out points, -1 when none) and
 * every point's predicted_ms. */
int latfit_prefill(Profile *p, LatPoint *pts, int n, Err *e);
/* latfit_decode: fit p's decode coefficients (const, cache, dram, kv) on the points not held out (more than 4),
 * pricing bytes with p->target (which must be set); cache_bytes >= 0 fixes C (a measured capacity), < 0 fits it
 * (see above). Sets p->cache_bytes, p->fit_decode_mape, p->fit_decode_heldout_mape and every predicted_ms;
 * p->cache_source is left to the caller. */
int latfit_decode(Profile *p, LatPoint *pts, int n, double cache_bytes, Err *e);

#endif
