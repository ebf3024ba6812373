/* calibrate: timing the engine and fitting the host profile (see calibrate.h). */
#include "sim/calibrate.h"

#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "elastic/levels.h"
#include "engine/gemm.h"
#include "base/fileutil.h"
#include "policies/tlm.h"
#include "sim/fit.h"
#include "sim/latfit.h"

/* median: the median of x[0..n) (n >= 1; reorders x). */
static double median(double *x, int n) {
    gsl_sort(x, 1, (size_t)n);
    return gsl_stats_median_from_sorted_data(x, 1, (size_t)n);
}

/* One timed pass as a request is served: the engine idles idle_ms first (so caches and clocks are as an arriving
 * request finds them, not as the previous pass left them), then one prefill of n tokens under v and `steps`
 * decode steps, each timed alone, in the kept cache kc (kvcache_reset, as the live service keeps one: nothing is
 * allocated or first touched inside the timing once kc is prepared). *dec_ms is their median (the step at the
 * mean context, as the cost is linear in the context; a burst of other load spoils few steps), *warm_ms what the
 * steps took beyond `steps` medians: the decode's warm-up after a prefill, which a short request's TPOT pays in
 * full. */
static int time_pass(const Model *m, const ElasticView *v, KVCache *kc, const int *tok, int n, int steps,
                     double idle_ms, double *pre_ms, double *dec_ms, double *warm_ms, Err *e) {
    float *logits = malloc(sizeof *logits * (size_t)m->cfg.vocab_size);
    double *step = malloc(sizeof *step * (size_t)(steps > 0 ? steps : 1));
    int rc = !logits || !step ? err_set(e, "out of memory") : kvcache_reset(kc, m, v, n + steps, e);
    *pre_ms = *dec_ms = *warm_ms = NAN;
    if (!rc) {
        clock_sleep_ms(idle_ms);
        double t0 = 1e3 * clock_wall_s();
        rc = model_prefill(m, v, kc, tok, n, NULL, logits, e);
        double t1 = 1e3 * clock_wall_s(), sum = 0;
        *pre_ms = t1 - t0;
        for (int s = 0; !rc && s < steps; s++) {
            rc = model_decode(m, v, kc, tok[(n + s) % n], logits, e);
            double t2 = 1e3 * clock_wall_s();
            step[s] = t2 - t1;
            sum += step[s];
            t1 = t2;
        }
        if (!rc && steps > 0) {
            *dec_ms = median(step, steps);
            *warm_ms = sum - steps * *dec_ms;
        }
    }
    free(logits);
    free(step);
    return rc;
}

static void point(CalibResult *r, const char *phase, double level, int tokens, double ms) {
    r->pts[r->n_pts++] = (CalibPoint){phase, level, tokens, ms, NAN, false};
}

/* Views narrower than the lowest level, timed and fitted beside the levels and never held out: uniform prefixes
 * keeping this fraction of every layer's FFN neurons and of its KV groups (rounded, at least one: on the shipped
 * base one of eight, so their parameter fractions are about 0.08 and 0.11), anchor layers included, no adapter;
 * stored with this fraction as their level. Among the fitted levels only 0.2's weights stay in the cache and every
 * level below 1.0 runs an adapter, so without them the decode fit could not tell its per-step constant from the
 * cost of a byte in the cache or from the adapter's cost: it priced a cached byte at zero and the held-out level
 * 0.3 12-19% low. */
#define CALIB_N_NARROW 2
static const double CALIB_NARROW[CALIB_N_NARROW] = {0.05, 0.1};

/* served_before: a request's work on the LLM m (its full view: a prefill of up to 64 of tok's tokens and 8 decode
 * steps), untimed, as the tiny LM finds the machine when it decides a request that arrives after another was
 * served: timed after its own previous pass instead, it ran about 10-20% faster on models/base-elastic. */
static int served_before(const Model *m, KVCache *kc, const int *tok, int max_len, Err *e) {
    enum { STEPS = 8 };
    int n = max_len < 64 ? max_len : 64;
    if (n + STEPS > m->cfg.max_seq) n = m->cfg.max_seq - STEPS;
    if (n < 1) return 0;
    ElasticView v;
    view_full(m, &v);
    double pre, dec, warm;
    return time_pass(m, &v, kc, tok, n, STEPS, 0, &pre, &dec, &warm, e);
}

/* fit_tlm: tlm_a + tlm_b tokens + tlm_c tokens^2 (the tiny LM's attention; with four or more points, else
 * tlm_c = 0) over the n timed points (tokens tk, times y), which are [first, n_pts) of r */
static int fit_tlm(const double *tk, const double *y, int n, int first, CalibResult *r, Err *e) {
    double X[64 * 3], coef[3] = {0};
    int p = n >= 4 ? 3 : 2;
    for (int i = 0; i < n && i < 64; i++) {
        X[p * i] = 1, X[p * i + 1] = tk[i];
        if (p == 3) X[p * i + 2] = tk[i] * tk[i];
    }
    if (fit_linear_nonneg(X, y, n, p, NULL, coef, NULL, e)) return err_prefix(e, "tiny-LM fit");
    r->prof.tlm_a = coef[0];
    r->prof.tlm_b = coef[1];
    r->prof.tlm_c = coef[2];
    for (int i = first; i < r->n_pts; i++) r->pts[i].predicted_ms = profile_tlm_ms(&r->prof, r->pts[i].tokens, 1);
    return 0;
}

/* The tiny LM proxy: a small random model with the base vocabulary (dim 128, 4 layers), timed as a prefill. */
static int time_tlm_proxy(const Model *base, KVCache *kc, const CalibConfig *c, const int *tok, CalibResult *r,
                          Err *e) {
    ModelConfig tc = base->cfg;
    tc.dim = 128;
    tc.n_layers = 4;
    tc.n_heads = tc.n_kv_heads = 4;
    tc.head_dim = 32;
    tc.ffn_dim = 512;
    tc.tied = true;
    Model t;
    if (model_alloc(&t, &tc, e)) return -1;
    model_init_random(&t, c->seed);
    ElasticView v;
    view_full(&t, &v);
    int first = r->n_pts, n = 0;
    double tk[64], y[64], *rep_ms = malloc(sizeof *rep_ms * (size_t)c->reps), dec, warm;
    KVCache tc_kv = {0}; /* the proxy's own kept cache */
    int rc = rep_ms ? kvcache_prepare(&tc_kv, &t, e) : err_set(e, "out of memory");
    for (int i = 0; !rc && i < c->n_lengths && n < 64; i++) {
        if (c->lengths[i] > tc.max_seq) continue;
        for (int rep = 0; !rc && rep < c->reps; rep++) {
            rc = served_before(base, kc, tok, c->lengths[i], e);
            if (!rc)
                rc = time_pass(&t, &v, &tc_kv, tok, c->lengths[i], 0, c->idle_ms, &rep_ms[rep], &dec, &warm, e);
        }
        if (rc) break;
        tk[n] = c->lengths[i];
        y[n] = median(rep_ms, c->reps);
        point(r, "tlm", NAN, c->lengths[i], y[n++]);
    }
    free(rep_ms);
    kvcache_free(&tc_kv);
    if (rc) {
        model_free(&t);
        return -1;
    }
    r->prof.tlm_params = (double)t.n_params;
    r->prof.tlm_bytes_per_param = 4;
    model_free(&t);
    snprintf(r->prof.tlm_source, sizeof r->prof.tlm_source,
             "measured on a proxy (random 4-layer, dim 128 model with the base vocabulary): no tiny LM in "
             "MODEL/policies/elms");
    return fit_tlm(tk, y, n, first, r, e);
}

/* The tiny LM itself (MODEL/policies/elms): one request = its score head, the keep masks of every prompt ratio
 * (tlm_keep_masks, as the policy computes them) and its decision head over a prompt of n tokens (n - 8 system, 8
 * query), timed against the tokens the policy prices (tlm_input_tokens). */
static int time_tlm_real(const Model *base, KVCache *kc, const char *tlm_dir, const CalibConfig *c, const int *tok,
                         CalibResult *r, Err *e) {
    Tlm t;
    if (tlm_load(&t, tlm_dir, base, base->cfg.bos_id, e)) return -1;
    int first = r->n_pts, n = 0, rc = 0;
    double tk[64], y[64];
    int S_max = 0;
    for (int i = 0; i < c->n_lengths; i++) S_max = c->lengths[i] > S_max ? c->lengths[i] : S_max;
    float *score = malloc(sizeof(float) * (size_t)(S_max + 1)), prob[N_LEVELS * N_RATIOS];
    unsigned char *masks = malloc((size_t)N_RATIOS * (size_t)(S_max + 1)); /* (N_RATIOS, S_max + 1) */
    double *rep_ms = malloc(sizeof *rep_ms * (size_t)c->reps);
    if (!score || !masks || !rep_ms) rc = err_set(e, "out of memory");
    for (int i = 0; !rc && i < c->n_lengths && n < 64; i++) {
        int L = c->lengths[i];
        if (L < 9 || L + 3 > t.score.cfg.max_seq) continue;
        EncodedItem x = {.system = (int *)tok, .n_system = L - 8, .query = (int *)tok + L - 8, .n_query = 8};
        for (int rep = 0; !rc && rep < c->reps; rep++) {
            int ri, li;
            if ((rc = served_before(base, kc, tok, L, e))) break;
            clock_sleep_ms(c->idle_ms);
            double t0 = 1e3 * clock_wall_s();
            rc = tlm_keep_masks(&t, &x, score, masks, (size_t)(S_max + 1), e);
            if (!rc) rc = t.decision == TLM_DECISION_PAIR ? tlm_decide_pair(&t, &x, 0.5, 0.8, &ri, &li, e)
                                                          : tlm_decide_prob(&t, &x, prob, e);
            rep_ms[rep] = 1e3 * clock_wall_s() - t0;
        }
        if (rc) break;
        double ms = median(rep_ms, c->reps);
        double tokens = tlm_input_tokens(&t, &x, true, true);
        tk[n] = tokens;
        y[n++] = ms;
        point(r, "tlm", NAN, (int)tokens, ms);
    }
    r->prof.tlm_params = tlm_params(&t);
    r->prof.tlm_bytes_per_param = 4;
    free(score);
    free(masks);
    free(rep_ms);
    tlm_free(&t);
    if (rc) return -1;
    if (n < 2) return err_set(e, "%s: fewer than 2 prompt lengths fit the tiny LM's context", tlm_dir);
    snprintf(r->prof.tlm_source, sizeof r->prof.tlm_source,
             "measured: the tiny LM of %.120s (score head, every ratio's keep mask, its decision head; %.0f parameters) "
             "per request, fitted "
             "against the tokens it reads (a + b tokens + c tokens^2); median over %d runs, each after an untimed "
             "request on the LLM and %g ms idle",
             tlm_dir, r->prof.tlm_params, c->reps, c->idle_ms);
    return fit_tlm(tk, y, n, first, r, e);
}

/* tlm_in: calibrate_tlm with the LLM's kept cache kc (prepared) for the untimed request before every pass */
static int tlm_in(const Model *m, KVCache *kc, const char *dir, const CalibConfig *c, CalibResult *out, Err *e) {
    int max_len = 0;
    for (int i = 0; i < c->n_lengths; i++) max_len = c->lengths[i] > max_len ? c->lengths[i] : max_len;
    if (!out->pts) {
        out->pts = calloc((size_t)c->n_lengths + 8, sizeof *out->pts);
        if (!out->pts) return err_set(e, "out of memory");
    }
    int *tok = malloc(sizeof *tok * (size_t)(max_len + 1));
    if (!tok) return err_set(e, "out of memory");
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, c->seed);
    for (int i = 0; i <= max_len; i++) tok[i] = (int)gsl_rng_uniform_int(g, (unsigned long)m->cfg.vocab_size);
    gsl_rng_free(g);
    char tlm_dir[1200], manifest[1300];
    snprintf(tlm_dir, sizeof tlm_dir, "%s/policies/elms", dir ? dir : ".");
    snprintf(manifest, sizeof manifest, "%s/tlm.json", tlm_dir);
    int rc = dir && path_is_file(manifest) ? time_tlm_real(m, kc, tlm_dir, c, tok, out, e)
                                            : time_tlm_proxy(m, kc, c, tok, out, e);
    free(tok);
    return rc;
}

int calibrate_tlm(const Model *m, const char *dir, const CalibConfig *c, CalibResult *out, Err *e) {
    KVCache kc = {0};
    int rc = kvcache_prepare(&kc, m, e) || tlm_in(m, &kc, dir, c, out, e) ? -1 : 0;
    kvcache_free(&kc);
    return rc;
}

int calibrate_run(const Model *m, const char *dir, const CalibConfig *c, CalibResult *out, Err *e) {
    memset(out, 0, sizeof *out);
    const ModelConfig *mc = &m->cfg;
    if (c->n_lengths < 2 || c->reps < 1 || c->decode_steps < 1)
        return err_set(e, "calibrate: need at least 2 prompt lengths, 1 rep and 1 decode step");
    int max_len = 0;
    for (int i = 0; i < c->n_lengths; i++) {
        if (c->lengths[i] < 1 || c->lengths[i] + c->decode_steps > mc->max_seq)
            return err_set(e, "calibrate: prompt length %d (+%d decode steps) outside the model context %d",
                           c->lengths[i], c->decode_steps, mc->max_seq);
        if (c->lengths[i] > max_len) max_len = c->lengths[i];
    }
    LevelSet ls;
    if (levelset_load(&ls, m, dir, true, e)) return -1;
    /* the timed views: the levels, then the narrower views */
    enum { N_VIEWS = N_LEVELS + CALIB_N_NARROW };
    ElasticView views[N_VIEWS];
    double vlevel[N_VIEWS];
    for (int li = 0; li < N_VIEWS; li++) {
        if (li < N_LEVELS) {
            views[li] = ls.view[li];
            vlevel[li] = LEVELS[li];
            continue;
        }
        double f = CALIB_NARROW[li - N_LEVELS];
        int a = (int)lround(f * mc->n_kv_heads), h = (int)lround(f * mc->ffn_dim);
        view_uniform(m, a < 1 ? 1 : a, h < 1 ? 1 : h, &views[li]);
        vlevel[li] = f;
    }
    int n_pts_max = N_VIEWS * c->n_lengths * 3 + c->n_lengths + 8, n_grid = N_VIEWS * c->n_lengths;
    out->pts = calloc((size_t)n_pts_max, sizeof *out->pts);
    int *tok = malloc(sizeof *tok * (size_t)(max_len + c->decode_steps));
    LatPoint *lp = calloc((size_t)n_grid, sizeof *lp), *ld = calloc((size_t)n_grid, sizeof *ld),
             *lw = calloc((size_t)n_grid, sizeof *lw);
    /* (3, n_grid, reps): every pass's prefill, decode step and warm-up */
    double *samp = malloc(sizeof *samp * 3 * (size_t)n_grid * (size_t)c->reps), *pre_s = samp,
           *dec_s = samp + (size_t)n_grid * c->reps, *warm_s = dec_s + (size_t)n_grid * c->reps;
    int rc = -1;
    KVCache kc = {0}; /* the engine's one cache, kept across passes as the live service keeps it */
    if (!out->pts || !tok || !lp || !ld || !lw || !samp) {
        err_set(e, "out of memory");
        goto done;
    }
    if (kvcache_prepare(&kc, m, e)) goto done;
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(g, c->seed);
    for (int i = 0; i < max_len + c->decode_steps; i++) tok[i] = (int)gsl_rng_uniform_int(g, (unsigned long)mc->vocab_size);
    gsl_rng_free(g);

    double head = (double)mc->vocab_size * mc->dim, layer = cost_layer_params(mc), kvpt = cost_kv_elems_per_token(mc);
    Profile *p = &out->prof;
    ProfileTarget *t = &p->target;
    t->layer_params = layer;
    t->head_params = head;
    t->embed_params = mc->tied ? 0 : head;
    t->kv_elems_per_token = kvpt;
    t->bytes_per_param = 4;
    t->kv_bytes_per_elem = 4;
    /* repetitions are interleaved (every point once per round, the median over rounds), so that a burst of other
     * load or a drift of the machine's speed spoils one sample of many points rather than every sample of a few */
    for (int rep = 0; rep < c->reps; rep++)
        for (int g = 0; g < n_grid; g++) {
            size_t at = (size_t)g * c->reps + rep;
            if (time_pass(m, &views[g / c->n_lengths], &kc, tok, c->lengths[g % c->n_lengths], c->decode_steps,
                          c->idle_ms, &pre_s[at], &dec_s[at], &warm_s[at], e))
                goto done;
        }
    /* the held-out points: every length of every other level (the odd indices of LEVELS: 0.3, 0.5, 0.7, 0.9),
     * views the fit never saw */
    for (int g = 0; g < n_grid; g++) {
        int li = g / c->n_lengths, n = c->lengths[g % c->n_lengths];
        CostShape s;
        cost_shape(m, m, &views[li], 0, &s);
        double ctx = n + (c->decode_steps - 1) / 2.0;
        bool held = li < N_LEVELS && li % 2 == 1;
        size_t at = (size_t)g * c->reps;
        lp[g] = (LatPoint){s, n, median(pre_s + at, c->reps), held, NAN};
        ld[g] = (LatPoint){s, ctx, median(dec_s + at, c->reps), held, NAN};
        lw[g] = (LatPoint){s, n, median(warm_s + at, c->reps), held, NAN};
    }
    /* the engine's two prefill regimes: below GEMM_MIN_ROWS rows the few-row product reads the weights without
     * packing them (latfit_prefill falls back to one regime when either has fewer than two fitted lengths). The
     * timed passes run n rows; a request is priced by its prompt tokens without BOS, which the engine runs as one
     * more row, so with a BOS the threshold in prompt tokens is one lower (no timed length lies between the two) */
    p->prefill_gemm_rows = gemm_available() ? GEMM_MIN_ROWS - (mc->bos_id >= 0) : 0;
    if (latfit_prefill(p, lp, n_grid, e) || latfit_decode(p, ld, n_grid, -1, e) || latfit_warmup(p, lw, n_grid, e))
        goto done;
    for (int g = 0; g < n_grid; g++) {
        int li = g / c->n_lengths;
        point(out, "prefill", vlevel[li], (int)lp[g].tokens, lp[g].ms);
        out->pts[out->n_pts - 1].predicted_ms = lp[g].predicted_ms;
        out->pts[out->n_pts - 1].held_out = lp[g].held_out;
        point(out, "decode", vlevel[li], (int)lround(ld[g].tokens), ld[g].ms);
        out->pts[out->n_pts - 1].predicted_ms = ld[g].predicted_ms;
        out->pts[out->n_pts - 1].held_out = ld[g].held_out;
        point(out, "warmup", vlevel[li], (int)lw[g].tokens, lw[g].ms);
        out->pts[out->n_pts - 1].predicted_ms = lw[g].predicted_ms;
        out->pts[out->n_pts - 1].held_out = lw[g].held_out;
    }
    int n_held = 0;
    for (int g = 0; g < n_grid; g++) n_held += lp[g].held_out;
    p->fit_points = n_grid - n_held;
    p->fit_heldout_points = n_held;
    int at = snprintf(p->fit_split, sizeof p->fit_split, "held out: every prompt length of levels");
    for (int li = 1; li < N_LEVELS && at > 0 && (size_t)at < sizeof p->fit_split; li += 2)
        at += snprintf(p->fit_split + at, sizeof p->fit_split - (size_t)at, "%s %g", li > 1 ? "," : "", LEVELS[li]);
    if (at > 0 && (size_t)at < sizeof p->fit_split)
        snprintf(p->fit_split + at, sizeof p->fit_split - (size_t)at,
                 "; fitted: the other levels and uniform views keeping %g and %g of every layer's FFN (no adapter)",
                 CALIB_NARROW[0], CALIB_NARROW[1]);
    if (tlm_in(m, &kc, dir, c, out, e)) goto done;

    /* a view switch: check the new view and lay the kept KV cache out for it (what the service does when the
     * view changes; no weights are copied, nothing is allocated) */
    double best = INFINITY;
    for (int r = 0; r < 20; r++) {
        double t0 = 1e3 * clock_wall_s();
        if (kvcache_reset(&kc, m, &ls.view[r % N_LEVELS], max_len + c->decode_steps, e)) goto done;
        double t = 1e3 * clock_wall_s() - t0;
        if (t < best) best = t;
    }
    point(out, "switch", NAN, -1, best);

    snprintf(p->name, sizeof p->name, "%s", c->name ? c->name : "host");
    snprintf(p->device, sizeof p->device, "%s", c->device ? c->device : "this machine");
    snprintf(p->source, sizeof p->source,
             "measured: `%s` on %s; %d levels and %d narrower views x %d prompt lengths, median over %d "
             "interleaved rounds, each pass "
             "after %g ms idle (as a request arrives), %d decode steps per point; timing depends on the model's "
             "shape, not its weights",
             c->command ? c->command : "elms calibrate", c->date ? c->date : "", N_LEVELS, CALIB_N_NARROW,
             c->n_lengths, c->reps,
             c->idle_ms, c->decode_steps);
    snprintf(t->name, sizeof t->name, "the calibrated engine model (%d layers, dim %d, %d heads, %d KV heads, ffn %d, "
             "vocab %d), fp32", mc->n_layers, mc->dim, mc->n_heads, mc->n_kv_heads, mc->ffn_dim, mc->vocab_size);
    snprintf(p->target_source, sizeof p->target_source, "counted from the model's config.json");
    snprintf(p->prefill_source, sizeof p->prefill_source,
             "MAPE-minimising least squares with non-negative coefficients (GSL) over %d timed prefills; MAPE %.2f%% "
             "fitted, %.2f%% on %d held-out prefills (fit.split); %s", p->fit_points, p->fit_prefill_mape,
             p->fit_prefill_heldout_mape, p->fit_heldout_points,
             p->prefill_gemm_rows > 0 ? "two regimes: prompts below gemm_min_rows tokens run the engine's few-row "
                                        "product (few_rows_weights_ms instead of weights_ms, few_rows_ms_per_token more per token)"
                                      : "one regime");
    snprintf(p->decode_source, sizeof p->decode_source,
             "MAPE-minimising least squares with non-negative coefficients (GSL) over %d timed decode points, the "
             "cache capacity and sharpness by a grid and Brent search over the same error; MAPE %.2f%% fitted, "
             "%.2f%% on %d held-out points (fit.split); the warm-up (what a pass's decode steps took beyond their "
             "median) by non-negative least squares on (1, h, S h^2): RMSE %.3f ms fitted, %.3f ms held-out",
             p->fit_points, p->fit_decode_mape, p->fit_decode_heldout_mape, p->fit_heldout_points,
             p->fit_warmup_rmse_ms, p->fit_warmup_heldout_rmse_ms);
    if (p->cache_bytes > 0)
        snprintf(p->cache_source, sizeof p->cache_source,
                 "fitted, not measured: the capacity (%.1f MB) and knee sharpness (%g) at which the fitted decode "
                 "steps' cost per byte best turns from ms_per_byte_cache to ms_per_byte_dram (effective figures "
                 "for this engine's access pattern on a cache shared with whatever else runs, not the CPU's "
                 "nominal cache size)", p->cache_bytes / 1e6, p->cache_sharpness);
    else
        snprintf(p->cache_source, sizeof p->cache_source,
                 "fitted: no cache capacity lowered the decode error, so none is modelled (every byte at "
                 "ms_per_byte_dram)");
    p->switch_view_ms = p->switch_model_ms = best;
    snprintf(p->switch_source, sizeof p->switch_source,
             "measured: checking a level's view and laying the kept KV cache out for it (a view switch copies no "
             "weights and allocates nothing; resident models switch the same way)");
    p->memory_target = false;
    p->runtime_bytes = 0;
    snprintf(p->memory_source, sizeof p->memory_source, "engine bytes: fp32 weights and KV cache as allocated");
    rc = 0;
    if (!(p->prefill_b > 0) || !(p->decode_dram > 0)) {
        err_set(e, "calibrate: the fit gave a non-positive per-token cost (b %g, dd %g); timings too noisy?",
                p->prefill_b, p->decode_dram);
        rc = -1;
    }
done:
    kvcache_free(&kc);
    levelset_free(&ls);
    free(tok);
    free(lp);
    free(ld);
    free(lw);
    free(samp);
    if (rc) calibrate_result_free(out);
    return rc;
}

void calibrate_result_free(CalibResult *r) {
    free(r->pts);
    r->pts = NULL;
    r->n_pts = 0;
}
