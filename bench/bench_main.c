/* bench_main: runs the benchmark programs (all, or those named on the command line), and the helpers they share. */
#include "bench/bench.h"

#include "base/clock.h"
#include "base/fileutil.h"
#include "engine/io.h"
#include "engine/score.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

double bench_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

static int g_failed; /* bench_fail calls */

void bench_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    g_failed++;
}

int bench_model_load(const char *dir, Model *m) {
    if (!path_is_dir(dir)) {
        printf("skipped (%s not present)\n", dir);
        return -1;
    }
    Err e;
    if (model_load(m, dir, &e)) {
        bench_fail("%s", e.msg);
        return -1;
    }
    return 0;
}

double bench_median(const double *x, int n) {
    double *y = malloc(sizeof *y * (size_t)n);
    if (!y) return NAN;
    memcpy(y, x, sizeof *y * (size_t)n);
    gsl_sort(y, 1, (size_t)n);
    double m = gsl_stats_median_from_sorted_data(y, 1, (size_t)n);
    free(y);
    return m;
}

typedef float v8f __attribute__((vector_size(32)));
double bench_read_gbs(const float *f, size_t n) {
    const v8f *b = (const v8f *)f;
    size_t nv = n / 8;
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    double t0 = clock_wall_s();
    for (size_t i = 0; i < nv; i += 8) {
        a0 += b[i], a1 += b[i + 1], a2 += b[i + 2], a3 += b[i + 3];
        a4 += b[i + 4], a5 += b[i + 5], a6 += b[i + 6], a7 += b[i + 7];
    }
    double t = clock_wall_s() - t0;
    v8f a = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    volatile float sink = 0;
    for (int k = 0; k < 8; k++) sink += a[k];
    (void)sink;
    return (double)n * sizeof(float) / t / 1e9;
}

static long minor_faults(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

int bench_request(const Model *m, const ElasticView *v, KVCache *kc, const int *tok, int n, int steps, double idle_ms,
                  double *pre_ms, double *tpot_ms, long *faults) {
    int out[64];
    GenerateTiming gt;
    Err e;
    if (steps + 1 > (int)(sizeof out / sizeof out[0])) {
        bench_fail("  bench_request: %d decode steps, at most %zu", steps, sizeof out / sizeof out[0] - 1);
        return -1;
    }
    clock_sleep_ms(idle_ms);
    long f0 = minor_faults();
    if (generate_greedy(m, v, kc, tok, n, steps + 1, -1, out, &gt, &e) < 0) {
        bench_fail("  %s", e.msg);
        return -1;
    }
    if (faults) *faults = minor_faults() - f0;
    *pre_ms = 1e3 * gt.prefill_s;
    *tpot_ms = 1e3 * gt.decode_s / gt.decode_steps;
    return 0;
}

static const struct {
    const char *name, *what;
    void (*fn)(void);
} ALL[] = {
    {"engine", "the machine's limits; load, prefill, decode per level: base, 15M, 110M, stories260K", bench_engine},
    {"serve", "a served request's first touch, idle and adapter costs on models/base-elastic", bench_serve},
    {"steady", "how far the same request's cost moves between windows of seconds on this machine", bench_steady},
    {"sim", "replay speed of a 1,000,000-request trace, with and without SQLite", bench_sim},
};
enum { N_ALL = sizeof ALL / sizeof ALL[0] };

static void usage(FILE *f) {
    fprintf(f, "usage: elms-bench [NAME...]\n\nruns every benchmark, or those whose name contains a NAME given:\n");
    for (int i = 0; i < N_ALL; i++) fprintf(f, "  %-8s %s\n", ALL[i].name, ALL[i].what);
    fprintf(f, "\nevery figure is printed as it is measured; nothing is asserted. Exit status 1 when a benchmark could "
               "not run\n(a missing model is skipped). On one core, nothing else running:\n"
               "  OPENBLAS_NUM_THREADS=1 taskset -c 1 elms-bench NAME\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* every line as it is measured, also into a file or a pipe */
    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--help") || !strcmp(argv[a], "-h")) {
            usage(stdout);
            return 0;
        }
        int known = 0;
        for (int i = 0; i < N_ALL; i++) known |= strstr(ALL[i].name, argv[a]) != NULL;
        if (!known || !argv[a][0]) {
            fprintf(stderr, "elms-bench: no benchmark named like '%s'\n\n", argv[a]);
            usage(stderr);
            return 2;
        }
    }
    for (int i = 0; i < N_ALL; i++) {
        int run = argc < 2;
        for (int a = 1; a < argc; a++) run |= strstr(ALL[i].name, argv[a]) != NULL;
        if (!run) continue;
        printf("== bench %s\n", ALL[i].name);
        ALL[i].fn();
    }
    if (g_failed)
        fprintf(stderr, "elms-bench: %d failure%s (printed with the figures)\n", g_failed, g_failed > 1 ? "s" : "");
    return g_failed ? 1 : 0;
}
