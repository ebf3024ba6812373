/* bench_main: runs the benchmark programs (all, or those named on the command line), and the helpers they share. */
#include "bench/bench.h"

#include "base/clock.h"
#include "engine/score.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

double bench_peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
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
        printf("  bench_request: %d decode steps, at most %zu\n", steps, sizeof out / sizeof out[0] - 1);
        return -1;
    }
    clock_sleep_ms(idle_ms);
    long f0 = minor_faults();
    if (generate_greedy(m, v, kc, tok, n, steps + 1, -1, out, &gt, &e) < 0) {
        printf("  %s\n", e.msg);
        return -1;
    }
    if (faults) *faults = minor_faults() - f0;
    *pre_ms = 1e3 * gt.prefill_s;
    *tpot_ms = 1e3 * gt.decode_s / gt.decode_steps;
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* every line as it is measured, also into a file or a pipe */
    struct {
        const char *name;
        void (*fn)(void);
    } all[] = {{"engine", bench_engine}, {"serve", bench_serve}, {"steady", bench_steady},
                                                          {"sim", bench_sim}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int run = argc < 2;
        for (int a = 1; a < argc; a++) run |= strstr(all[i].name, argv[a]) != NULL;
        if (!run) continue;
        printf("== bench %s\n", all[i].name);
        fflush(stdout);
        all[i].fn();
    }
    return 0;
}
