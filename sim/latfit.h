/* latfit: fitting a profile's prefill and decode cost models (sim/profile.h) to timed points, with held-out
 * points that the fit never sees and whose error is reported apart.
 * Both fits minimise the MAPE of the fitted points with every coefficient non-negative as part of the fit
 * (fit_linear_nonneg: no intercept or slope is clamped afterwards):
 *   prefill_ms = a + w lin + b0 n + b n lin + c n^2 kv
 *   decode_ms  = d0 + S (h dc + (1 - h) dd) + dkv KV,  S = W + KV,  h = (1 + (S / C)^k)^(-1/k),  dd = dc + dx
 * with d0, dc, dx, dkv >= 0 (so a byte from DRAM never costs less than one from the cache). For a given cache
 * capacity C and knee sharpness k the decode model is linear in (d0, dc, dx, dkv): regressors 1, S, S (1 - h), KV.
 * When a fitted point runs an adapter, its terms join both fits (prefill: n adapter; decode: adapter and, with a
 * cache, adapter (1 - h)). A cache then brings two more free columns than the model without one, and at a small C
 * the two adapter columns are nearly alike, so the held-out points (never fitted) are the check on what it buys.
 * C is either given (measured) or fitted: the MAPE is minimised over C by a log-spaced grid from an eighth of the
 * smallest to twice the largest working set S of the fitted points (a smooth knee may sit past them), refined by
 * Brent's method (GSL) around the best grid value; k is chosen from latfit_sharpness by the same error. A model
 * without a cache term (C = 0, dc = dd) competes too and wins ties, so a cache is only reported when it lowers
 * the error. Deterministic: no random restarts. Every choice (coefficients, C, k) is made on the fitted points
 * only.
 * A request's decode warm-up (the first steps after its prefill run slower than the steady step the decode model
 * prices) is fitted apart, in milliseconds, as warmup_ms + warmup_cached_ms h + warmup_cached_byte_ms S h^2 with S
 * and h as above (at the prompt). The last term can rise and fall with a view's size: about S while the view stays
 * cached, about C^2 / S past the cache; measured warm-ups did so, peaking at the views near the fitted C, and the
 * first two terms alone could not follow them (README, "A decode warm-up"). */
#ifndef ELMS_LATFIT_H
#define ELMS_LATFIT_H

#include <stdbool.h>

#include "engine/err.h"
#include "sim/profile.h"

/* The knee sharpnesses k the decode fit chooses from (1: the smoothest; 64: nearly the hard knee min(1, C/S)). */
#define LATFIT_N_SHARPNESS 7
extern const double latfit_sharpness[LATFIT_N_SHARPNESS];

typedef struct LatPoint {
    CostShape shape;     /* the configuration's work relative to the profile's target */
    double tokens;       /* prompt tokens n (prefill) or mean context ctx (decode) */
    double ms;           /* measured time, > 0 */
    bool held_out;       /* not used by the fit; its error is reported apart */
    double predicted_ms; /* out: the fitted profile's price */
} LatPoint;

/* latfit_prefill: fit p's prefill coefficients (a, w, b0, b, c; with points that run an adapter its per-token and
 * per-pass costs; with two prompt regimes the few-row pair) on the points of pts not held out (more than 5);
 * sets p->fit_prefill_mape (fitted points) and p->fit_prefill_heldout_mape (held-out points, -1 when none) and
 * every point's predicted_ms. */
int latfit_prefill(Profile *p, LatPoint *pts, int n, Err *e);
/* latfit_decode: fit p's decode coefficients (const, cache, dram, kv, and adapter and adapter_dram when a fitted
 * point runs an adapter) and knee sharpness on the points not held out (more than 4; adapter_dram is fitted only
 * with a cache and more than 6 fitted points, else it is 0), pricing bytes with p->target (which must be set);
 * cache_bytes > 0 fixes C (a measured capacity), 0 fits no cache, < 0 fits C (see above). Sets p->cache_bytes,
 * p->cache_sharpness, p->decode_const, decode_cache, decode_dram, decode_kv, decode_adapter, decode_adapter_dram,
 * p->fit_decode_mape, p->fit_decode_heldout_mape and every predicted_ms; p->cache_source is left to the caller. */
int latfit_decode(Profile *p, LatPoint *pts, int n, double cache_bytes, Err *e);

/* latfit_warmup: fit p's decode warm-up (warmup_ms + warmup_cached_ms h + warmup_cached_byte_ms S h^2, S the
 * working set at the prompt and h its cached share under p's fitted cache) by least squares with every coefficient
 * non-negative on the points not held out (more than 2; tokens = the prompt, ms = what the decode steps after that
 * prefill took beyond their steady cost, of any sign). Call after latfit_decode. Sets p->fit_warmup_rmse_ms and
 * p->fit_warmup_heldout_rmse_ms and every predicted_ms. */
int latfit_warmup(Profile *p, LatPoint *pts, int n, Err *e);

#endif
