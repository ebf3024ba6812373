/* runstats: a run's summary from its request rows (see runstats.h). */
#include "sim/runstats.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

void runstats_init(RunStats *s) { memset(s, 0, sizeof *s); }

void runstats_free(RunStats *s) {
    free(s->ttft);
    free(s->tpot);
    free(s->overhead);
    free(s->kept);
    free(s->ratio);
    runstats_init(s);
}

static int grow(RunStats *s, Err *e) {
    long cap = s->cap ? 2 * s->cap : 256;
    double **arr[5] = {&s->ttft, &s->tpot, &s->overhead, &s->kept, &s->ratio};
    for (int k = 0; k < 5; k++) {
        double *p = realloc(*arr[k], sizeof *p * (size_t)cap);
        if (!p) return err_set(e, "out of memory for the statistics of %ld requests", cap);
        *arr[k] = p;
    }
    s->cap = cap;
    return 0;
}

int runstats_add(RunStats *s, const DbRequest *r, Err *e) {
    if (s->n == s->cap && grow(s, e)) return -1;
    s->ttft[s->n] = r->ttft_ms;
    s->tpot[s->n] = r->tpot_ms;
    s->overhead[s->n] = r->ttft_ms > 0 ? (r->tlm_ms + r->switch_ms) / r->ttft_ms : 0.0;
    s->kept[s->n] = r->prompt_tokens > 0 ? (double)r->kept_tokens / r->prompt_tokens : 1.0;
    s->ratio[s->n] = r->ratio;
    s->n++;
    if (r->correct >= 0) {
        s->with_item++;
        s->correct += r->correct;
        s->attained += r->correct && r->slo_met;
    }
    s->slo_met += r->slo_met;
    if (r->memory_bytes > s->memory_peak) s->memory_peak = r->memory_bytes;
    return 0;
}

/* sorted: x (n) sorted ascending, for order-independent means and percentiles. */
static const double *sorted(double *x, long n) {
    if (n > 0) gsl_sort(x, 1, (size_t)n);
    return x;
}

static double mean_of(double *x, long n) { return n ? gsl_stats_mean(sorted(x, n), 1, (size_t)n) : NAN; }

static double quantile_of(double *x, long n, double q) {
    return n ? gsl_stats_quantile_from_sorted_data(sorted(x, n), 1, (size_t)n, q) : NAN;
}

void runstats_summarize(RunStats *s, SimSummary *out) {
    long n = s->n;
    out->requests = n;
    out->with_item = s->with_item;
    out->correct = s->correct;
    out->slo_met = s->slo_met;
    out->attained = s->attained;
    out->accuracy = s->with_item ? (double)s->correct / (double)s->with_item : NAN;
    out->attained_frac = s->with_item ? (double)s->attained / (double)s->with_item : NAN;
    out->slo_met_frac = n ? (double)s->slo_met / (double)n : NAN;
    out->ttft_p50_ms = quantile_of(s->ttft, n, 0.5);
    out->ttft_p99_ms = quantile_of(s->ttft, n, 0.99);
    out->tpot_p50_ms = quantile_of(s->tpot, n, 0.5);
    out->ttft_overhead_mean = mean_of(s->overhead, n);
    out->ttft_overhead_p99 = quantile_of(s->overhead, n, 0.99);
    out->prompt_ratio = mean_of(s->kept, n);
    out->target_ratio = mean_of(s->ratio, n);
    out->memory_bytes = s->memory_peak;
}

int runstats_from_db(Db *d, long run_id, SimSummary *out, Err *e) {
    memset(out, 0, sizeof *out);
    static const char *sql = "SELECT ttft_ms, tpot_ms, tlm_ms, switch_ms, prompt_tokens, kept_tokens, ratio, "
                             "correct, slo_met, memory_bytes FROM requests WHERE run = ? ORDER BY request";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(d->h, sql, -1, &st, NULL) != SQLITE_OK)
        return err_set(e, "%s: database: reading the requests of run %ld: %s", d->path, run_id, sqlite3_errmsg(d->h));
    sqlite3_bind_int64(st, 1, run_id);
    RunStats s;
    runstats_init(&s);
    int rc = 0, step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        DbRequest r = {
            .ttft_ms = sqlite3_column_double(st, 0), .tpot_ms = sqlite3_column_double(st, 1),
            .tlm_ms = sqlite3_column_double(st, 2), .switch_ms = sqlite3_column_double(st, 3),
            .prompt_tokens = sqlite3_column_int(st, 4), .kept_tokens = sqlite3_column_int(st, 5),
            .ratio = sqlite3_column_double(st, 6),
            .correct = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 7),
            .slo_met = sqlite3_column_int(st, 8) != 0, .memory_bytes = sqlite3_column_double(st, 9),
        };
        rc = runstats_add(&s, &r, e);
    }
    if (!rc && step != SQLITE_DONE)
        rc = err_set(e, "%s: database: reading the requests of run %ld: %s", d->path, run_id, sqlite3_errmsg(d->h));
    sqlite3_finalize(st);
    if (!rc) runstats_summarize(&s, out);
    runstats_free(&s);
    return rc;
}

void sim_summary_row(const SimSummary *s, const char *finished, DbRunSummary *out) {
    memset(out, 0, sizeof *out);
    out->finished = finished;
    out->accuracy = s->accuracy;
    out->slo_met = s->slo_met_frac;
    out->attained = s->attained_frac;
    out->ttft_p50_ms = s->ttft_p50_ms;
    out->ttft_p99_ms = s->ttft_p99_ms;
    out->memory_bytes = s->memory_bytes;
    out->ttft_overhead_mean = s->ttft_overhead_mean;
    out->ttft_overhead_p99 = s->ttft_overhead_p99;
    out->prompt_ratio = s->prompt_ratio;
    out->target_ratio = s->target_ratio;
}
