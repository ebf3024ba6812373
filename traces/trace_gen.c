/* trace_gen: trace synthesis with GSL random numbers (mt19937, seeded): the paper's skewed app mix, items
 * sampled without replacement from each app's test split, a shuffled request order, per-app output lengths and
 * sequential, Poisson or bursty (Gamma renewal) arrivals. The draws happen in a fixed order, so a seed gives
 * the same trace on every machine. */
#include "traces/trace.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void trace_gen_defaults(TraceGenConfig *c) {
    memset(c, 0, sizeof *c);
    c->apps = TRACE_APPS;
    c->n_apps = TRACE_N_APPS;
    c->n_requests = 600;
    c->alpha = 0.0;
    c->arrival = ARRIVAL_SEQUENTIAL;
    c->rate = 1.0;
    c->burst_cv = 2.0;
    c->seed = 42;
}

long trace_skew_counts(int n_apps, long n, double alpha, bool fill, long *counts) {
    double sum = 0.0, *frac = malloc(sizeof *frac * (size_t)(n_apps > 0 ? n_apps : 1));
    for (int i = 0; i < n_apps; i++) sum += exp(alpha * i);
    long total = 0;
    for (int i = 0; i < n_apps; i++) {
        double x = (double)n * exp(alpha * i) / sum;
        /* a hair of tolerance so that exact quotients (600/6) are not floored below by rounding */
        counts[i] = (long)floor(x + 1e-9);
        frac[i] = x - (double)counts[i];
        total += counts[i];
    }
    while (fill && total < n && frac) {
        int best = 0;
        for (int i = 1; i < n_apps; i++)
            if (frac[i] > frac[best]) best = i;
        counts[best]++;
        frac[best] = -1.0;
        total++;
    }
    free(frac);
    return total;
}

static double next_gap(gsl_rng *r, const TraceGenConfig *c) {
    if (c->arrival == ARRIVAL_POISSON) return gsl_ran_exponential(r, 1.0 / c->rate);
    /* Gamma(k, theta) with mean 1/rate and CV = 1/sqrt(k): k < 1 gives bursts of short gaps and long lulls */
    double k = 1.0 / (c->burst_cv * c->burst_cv);
    return gsl_ran_gamma(r, k, 1.0 / (k * c->rate));
}

int trace_gen(Trace *t, const TraceGenConfig *c, const ItemSet *const *sets, Err *e) {
    trace_init(t);
    if (c->n_apps < 1 || c->n_apps > 64) return err_set(e, "trace gen: expected 1..64 apps, got %d", c->n_apps);
    if (c->n_requests < 1) return err_set(e, "trace gen: --requests must be positive, got %ld", c->n_requests);
    if (!isfinite(c->alpha) || fabs(c->alpha) > 10) return err_set(e, "trace gen: alpha %g outside [-10, 10]", c->alpha);
    if (c->arrival != ARRIVAL_SEQUENTIAL && !(c->rate > 0 && isfinite(c->rate)))
        return err_set(e, "trace gen: --rate must be a positive number of requests per second, got %g", c->rate);
    if (c->arrival == ARRIVAL_BURSTY && !(c->burst_cv > 1.0 && c->burst_cv < 100.0))
        return err_set(e, "trace gen: --burst-cv must be in (1, 100), got %g", c->burst_cv);
    for (int i = 0; i < c->n_apps; i++) {
        if (!sets[i] || sets[i]->n < 1) return err_set(e, "trace gen: app %s has no test items", c->apps[i].name);
        if (!(c->apps[i].slo_ttft > 0) || !(c->apps[i].slo_tpot > 0) || !(c->apps[i].output_mean >= 1))
            return err_set(e, "trace gen: app %s: SLOs must be positive and the output mean >= 1", c->apps[i].name);
        if (strtab_intern(&t->apps, c->apps[i].name) != i)
            return err_set(e, "trace gen: app %s is listed twice", c->apps[i].name);
    }
    long counts[64];
    long total = trace_skew_counts(c->n_apps, c->n_requests, c->alpha, c->fill, counts);
    if (total < 1) return err_set(e, "trace gen: the skew formula gives no requests for N = %ld", c->n_requests);

    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, c->seed);
    TraceRequest *req = calloc((size_t)total, sizeof *req);
    if (!req) goto oom;
    long k = 0;
    for (int a = 0; a < c->n_apps; a++) {
        const ItemSet *s = sets[a];
        int *ids = malloc(sizeof *ids * (size_t)s->n);
        if (!ids) goto oom;
        for (int i = 0; i < s->n; i++) {
            char key[512];
            snprintf(key, sizeof key, "%s", s->items[i].id ? s->items[i].id : "");
            if (!key[0]) {
                free(ids);
                free(req);
                gsl_rng_free(r);
                trace_free(t);
                return err_set(e, "trace gen: app %s: item %d has no id", c->apps[a].name, i);
            }
            if ((ids[i] = strtab_intern(&t->items, key)) < 0) {
                free(ids);
                goto oom;
            }
        }
        /* without replacement: consecutive shuffled passes over the split */
        for (long j = 0; j < counts[a]; j++) {
            long pos = j % s->n;
            if (pos == 0) gsl_ran_shuffle(r, ids, (size_t)s->n, sizeof *ids);
            TraceRequest *q = &req[k++];
            q->app = a;
            q->item = ids[pos];
            q->slo_ttft = c->apps[a].slo_ttft;
            q->slo_tpot = c->apps[a].slo_tpot;
            q->prompt_tokens = -1;
        }
        free(ids);
    }
    gsl_ran_shuffle(r, req, (size_t)total, sizeof *req);
    double now = 0.0;
    for (long i = 0; i < total; i++) {
        TraceRequest *q = &req[i];
        q->id = i;
        q->output_tokens = 1 + (int)gsl_ran_poisson(r, c->apps[q->app].output_mean - 1.0);
    }
    for (long i = 0; i < total; i++) {
        if (c->arrival == ARRIVAL_SEQUENTIAL) {
            req[i].arrival_s = TRACE_SEQUENTIAL;
        } else {
            now += next_gap(r, c);
            /* microsecond resolution: short enough to print exactly in JSON (15 significant digits) */
            req[i].arrival_s = round(now * 1e6) / 1e6;
        }
    }
    free(t->req);
    t->req = req;
    t->n = t->cap = total;
    gsl_rng_free(r);
    return 0;
oom:
    free(req);
    gsl_rng_free(r);
    trace_free(t);
    return err_set(e, "trace gen: out of memory");
}
