/* live: serving a trace's requests on the real engine with the service clock (see live.h). */
#include "sim/live.h"

#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hash.h"
#include "engine/score.h"
#include "sim/fit.h"

/* The quantities live_record keeps per row, measured (meas) and predicted (pred). */
enum { LIVE_SERVICE_TTFT, LIVE_TTFT, LIVE_TPOT, LIVE_PREFILL, LIVE_N };

void live_init(SimLive *L) {
    memset(L, 0, sizeof *L);
    L->settle_ms = LIVE_SETTLE_MS;
}

void live_free(SimLive *L) {
    free(L->prompt);
    free(L->out);
    kvcache_free(&L->kv);
    for (int k = 0; k < LIVE_N; k++) {
        free(L->meas[k]);
        free(L->pred[k]);
    }
    live_init(L);
}

void live_begin(SimLive *L) {
    L->now_ms = L->pred_free_ms = 0;
    L->has_view = false;
    L->model = NULL;
    L->n = 0;
    L->queue_sum = L->pred_queue_sum = 0;
    L->settles = 0;
    L->n_prepared = 0; /* every run prepares the cache for its models once (the KV buffer is kept) */
}

void live_wait(SimLive *L, double t_ms) {
    double need = t_ms - L->now_ms;
    if (!(need > 0)) return;
    clock_sleep_ms(need);
    L->now_ms = t_ms;
}

void live_settle(SimLive *L) {
    clock_sleep_ms(L->settle_ms);
    L->settles++;
}

void live_advance(SimLive *L, double ms) {
    if (ms > 0) L->now_ms += ms;
}

/* grow_ints: *buf holds at least n ints. */
static int grow_ints(int **buf, int *cap, int n, Err *e) {
    if (n <= *cap) return 0;
    int *p = realloc(*buf, sizeof *p * (size_t)n);
    if (!p) return err_set(e, "out of memory for %d tokens", n);
    *buf = p;
    *cap = n;
    return 0;
}

int live_prompt(SimLive *L, const EncodedItem *x, const unsigned char *keep, int bos, long request_id, int kept,
                int vocab, Err *e) {
    int need = 1 + (x ? x->n_system + x->n_query : kept);
    if (grow_ints(&L->prompt, &L->prompt_cap, need, e)) return -1;
    if (x) return item_prompt(x, keep, bos, L->prompt);
    int n = 0;
    if (bos >= 0) L->prompt[n++] = bos;
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    if (!g) return err_set(e, "out of memory");
    gsl_rng_set(g, (unsigned long)hash_fnv1a(HASH_FNV_OFFSET, &request_id, sizeof request_id));
    for (int i = 0; i < kept; i++) L->prompt[n++] = (int)gsl_rng_uniform_int(g, (unsigned long)vocab);
    gsl_rng_free(g);
    return n;
}

bool live_check_context(int n_prompt, int bos, int output_tokens, int max_seq) {
    long need = (long)n_prompt + (bos >= 0) + (output_tokens > 2 ? output_tokens : 2);
    return need <= max_seq;
}

/* prepare: the first time m is served in a run (of up to LIVE_MAX_MODELS), kvcache_prepare L's cache for m
 * (untimed), then idle settle_ms (not counted as a settle of the run). */
static int prepare(SimLive *L, const Model *m, Err *e) {
    for (int i = 0; i < L->n_prepared; i++)
        if (L->prepared[i] == m) return 0;
    if (L->n_prepared == LIVE_MAX_MODELS) return 0;
    if (kvcache_prepare(&L->kv, m, e)) return -1;
    L->prepared[L->n_prepared++] = m;
    clock_sleep_ms(L->settle_ms);
    return 0;
}

int live_serve(SimLive *L, const Model *m, const ElasticView *v, bool switching, int n, int output_tokens,
               LiveTimes *t, Err *e) {
    memset(t, 0, sizeof *t);
    if (output_tokens < 1) return err_set(e, "output_tokens %d: expected >= 1", output_tokens);
    int steps = output_tokens > 1 ? output_tokens : 2; /* one more token to time the TPOT of a single one */
    if ((long)n + steps > m->cfg.max_seq)
        return err_set(e, "a prompt of %d tokens and %d output tokens exceed the model's context of %d", n,
                       output_tokens, m->cfg.max_seq);
    if (prepare(L, m, e) || grow_ints(&L->out, &L->out_cap, steps, e)) return -1;
    /* the switch: the engine's whole state of a view is the ElasticView (widths, skips, adapter pointer) */
    double t0 = clock_wall_s();
    L->model = m;
    L->view = *v;
    int rc = view_check(m, &L->view, e);
    double sw = 1e3 * (clock_wall_s() - t0);
    if (rc) return -1;
    L->has_view = true;
    if (switching) t->switch_ms = sw;
    GenerateTiming gt;
    int got = generate_greedy(L->model, &L->view, &L->kv, L->prompt, n, steps, -1, L->out, &gt, e);
    if (got < 0) return -1;
    if (got != steps || gt.decode_steps != steps - 1)
        return err_set(e, "the engine generated %d of %d tokens", got, steps);
    t->prefill_ms = 1e3 * gt.prefill_s;
    t->tpot_ms = 1e3 * gt.decode_s / gt.decode_steps;
    t->decode_ms = output_tokens > 1 ? 1e3 * gt.decode_s : 0;
    L->now_ms += t->switch_ms + t->prefill_ms + t->decode_ms;
    return 0;
}

double live_predict_queue(SimLive *L, double arrival_ms, bool sequential, double service_ms) {
    if (sequential) arrival_ms = L->pred_free_ms; /* its arrival in the predicted timeline */
    double start = arrival_ms > L->pred_free_ms ? arrival_ms : L->pred_free_ms;
    L->pred_free_ms = start + service_ms;
    return start - arrival_ms;
}

int live_record(SimLive *L, const DbRequest *r, Err *e) {
    if (!r->has_pred) return err_set(e, "request %ld: a live row without the simulator's prediction", r->request);
    if (L->n == L->cap) {
        long cap = L->cap ? 2 * L->cap : 256;
        for (int k = 0; k < LIVE_N; k++) {
            double *a = realloc(L->meas[k], sizeof *a * (size_t)cap), *b = a ? realloc(L->pred[k], sizeof *b * (size_t)cap) : NULL;
            if (a) L->meas[k] = a;
            if (b) L->pred[k] = b;
            if (!a || !b) return err_set(e, "out of memory for the errors of %ld requests", cap);
        }
        L->cap = cap;
    }
    double service = r->tlm_ms + r->switch_ms + r->prefill_ms;
    double pred_service = r->pred_tlm_ms + r->pred_switch_ms + r->pred_prefill_ms;
    const double meas[LIVE_N] = {service, r->queue_ms + service, r->tpot_ms, r->prefill_ms};
    const double pred[LIVE_N] = {pred_service, r->pred_queue_ms + pred_service, r->pred_tpot_ms, r->pred_prefill_ms};
    for (int k = 0; k < LIVE_N; k++) {
        L->meas[k][L->n] = meas[k];
        L->pred[k][L->n] = pred[k];
    }
    L->queue_sum += r->queue_ms;
    L->pred_queue_sum += r->pred_queue_ms;
    L->n++;
    return 0;
}

/* bias: mean (pred - meas) / meas over n rows, in percent. */
static double bias(const double *pred, const double *meas, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += (pred[i] - meas[i]) / meas[i];
    return 100.0 * s / (double)n;
}

static double mean(const double *x, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += x[i];
    return s / (double)n;
}

/* pct_error: (predicted - measured) / measured of the q-quantile of each of the n values, in percent (NAN when
 * out of memory). */
static double pct_error(const double *pred, const double *meas, long n, double q) {
    double *a = malloc(sizeof *a * (size_t)n), *b = malloc(sizeof *b * (size_t)n), r = NAN;
    if (a && b) {
        memcpy(a, pred, sizeof *a * (size_t)n);
        memcpy(b, meas, sizeof *b * (size_t)n);
        gsl_sort(a, 1, (size_t)n);
        gsl_sort(b, 1, (size_t)n);
        double qp = gsl_stats_quantile_from_sorted_data(a, 1, (size_t)n, q);
        double qm = gsl_stats_quantile_from_sorted_data(b, 1, (size_t)n, q);
        r = 100.0 * (qp - qm) / qm;
    }
    free(a);
    free(b);
    return r;
}

void live_summarize(const SimLive *L, LiveSummary *out) {
    memset(out, 0, sizeof *out);
    out->requests = L->n;
    if (L->n == 0) {
        double *f[] = {&out->mape_service_ttft, &out->mape_ttft, &out->mape_tpot, &out->mape_prefill,
                       &out->bias_service_ttft, &out->bias_tpot, &out->mean_service_ttft_ms,
                       &out->mean_pred_service_ttft_ms, &out->mean_tpot_ms, &out->mean_pred_tpot_ms,
                       &out->mean_queue_ms, &out->mean_pred_queue_ms, &out->pct_ttft_p50, &out->pct_ttft_p95,
                       &out->pct_tpot_p50, &out->pct_tpot_p95};
        for (size_t k = 0; k < sizeof f / sizeof f[0]; k++) *f[k] = NAN;
        return;
    }
    int n = (int)L->n;
    out->mape_service_ttft = fit_mape(L->pred[LIVE_SERVICE_TTFT], L->meas[LIVE_SERVICE_TTFT], n);
    out->mape_ttft = fit_mape(L->pred[LIVE_TTFT], L->meas[LIVE_TTFT], n);
    out->mape_tpot = fit_mape(L->pred[LIVE_TPOT], L->meas[LIVE_TPOT], n);
    out->mape_prefill = fit_mape(L->pred[LIVE_PREFILL], L->meas[LIVE_PREFILL], n);
    out->bias_service_ttft = bias(L->pred[LIVE_SERVICE_TTFT], L->meas[LIVE_SERVICE_TTFT], L->n);
    out->bias_tpot = bias(L->pred[LIVE_TPOT], L->meas[LIVE_TPOT], L->n);
    out->mean_service_ttft_ms = mean(L->meas[LIVE_SERVICE_TTFT], L->n);
    out->mean_pred_service_ttft_ms = mean(L->pred[LIVE_SERVICE_TTFT], L->n);
    out->mean_tpot_ms = mean(L->meas[LIVE_TPOT], L->n);
    out->mean_pred_tpot_ms = mean(L->pred[LIVE_TPOT], L->n);
    out->mean_queue_ms = L->queue_sum / (double)L->n;
    out->mean_pred_queue_ms = L->pred_queue_sum / (double)L->n;
    out->pct_ttft_p50 = pct_error(L->pred[LIVE_TTFT], L->meas[LIVE_TTFT], L->n, 0.50);
    out->pct_ttft_p95 = pct_error(L->pred[LIVE_TTFT], L->meas[LIVE_TTFT], L->n, 0.95);
    out->pct_tpot_p50 = pct_error(L->pred[LIVE_TPOT], L->meas[LIVE_TPOT], L->n, 0.50);
    out->pct_tpot_p95 = pct_error(L->pred[LIVE_TPOT], L->meas[LIVE_TPOT], L->n, 0.95);
}
