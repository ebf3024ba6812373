/* trace_stats: a summary of a trace (requests per app with their SLO, arrivals, output lengths). */
#include "traces/trace.h"

#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The most common SLO of an app: counted over distinct (ttft, tpot, kinds) values, first seen wins ties. */
typedef struct SloCount {
    double ttft, tpot;
    bool ttft_ms, tpot_ms;
    long n;
} SloCount;

int trace_stats(const Trace *t, TraceStats *s, Err *e) {
    memset(s, 0, sizeof *s);
    s->requests = t->n;
    s->n_apps = t->apps.n;
    s->app = calloc((size_t)(t->apps.n ? t->apps.n : 1), sizeof *s->app);
    SloCount *slo = calloc((size_t)(t->apps.n ? t->apps.n : 1) * 8, sizeof *slo); /* up to 8 distinct per app */
    double *gaps = t->n > 1 ? malloc(sizeof *gaps * (size_t)t->n) : NULL;
    if (!s->app || !slo || (t->n > 1 && !gaps)) {
        free(slo);
        free(gaps);
        trace_stats_free(s);
        return err_set(e, "trace stats: out of memory");
    }
    double out_sum = 0, first = INFINITY, last = -INFINITY, prev = NAN;
    long n_gaps = 0, timed = 0;
    for (long i = 0; i < t->n; i++) {
        const TraceRequest *r = &t->req[i];
        TraceAppStats *a = &s->app[r->app];
        a->requests++;
        a->output_mean += r->output_tokens;
        out_sum += r->output_tokens;
        if (r->item >= 0) s->with_item++;
        SloCount *c = &slo[r->app * 8];
        for (int k = 0; k < 8; k++) {
            if (c[k].n == 0) {
                c[k] = (SloCount){r->slo_ttft, r->slo_tpot, r->slo_ttft_ms, r->slo_tpot_ms, 1};
                break;
            }
            if (c[k].ttft == r->slo_ttft && c[k].tpot == r->slo_tpot && c[k].ttft_ms == r->slo_ttft_ms &&
                c[k].tpot_ms == r->slo_tpot_ms) {
                c[k].n++;
                break;
            }
        }
        if (r->arrival_s < 0) {
            s->sequential++;
            continue;
        }
        timed++;
        if (r->arrival_s < first) first = r->arrival_s;
        if (r->arrival_s > last) last = r->arrival_s;
        if (!isnan(prev)) gaps[n_gaps++] = fabs(r->arrival_s - prev);
        prev = r->arrival_s;
    }
    for (int a = 0; a < s->n_apps; a++) {
        SloCount *c = &slo[a * 8];
        int best = 0;
        for (int k = 1; k < 8; k++)
            if (c[k].n > c[best].n) best = k;
        s->app[a].slo_ttft = c[best].ttft;
        s->app[a].slo_tpot = c[best].tpot;
        s->app[a].slo_ttft_ms = c[best].ttft_ms;
        s->app[a].slo_tpot_ms = c[best].tpot_ms;
        if (s->app[a].requests) s->app[a].output_mean /= (double)s->app[a].requests;
    }
    s->output_mean = t->n ? out_sum / (double)t->n : 0;
    if (timed > 1) {
        s->span_s = last - first;
        s->rate = s->span_s > 0 ? (double)(timed - 1) / s->span_s : 0;
    }
    if (n_gaps > 1) {
        double mean = gsl_stats_mean(gaps, 1, (size_t)n_gaps);
        s->interarrival_cv = mean > 0 ? gsl_stats_sd_m(gaps, 1, (size_t)n_gaps, mean) / mean : 0;
    }
    free(slo);
    free(gaps);
    return 0;
}

void trace_stats_free(TraceStats *s) {
    free(s->app);
    memset(s, 0, sizeof *s);
}
