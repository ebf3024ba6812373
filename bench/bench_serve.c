/* bench_serve: what a served request's time depends on besides its shape, on models/base-elastic at level 1.0 (the
 * live replay's findings, sim/live.h, as a command): the first touch of a request's memory (a 256-token prefill in
 * a cache of its own whose memory was just returned to the system, against the service's kept, prepared cache),
 * and the idle before a request (a 128-token prefill and 15 decode steps after 0 to 400 ms of idle, interleaved
 * so that the machine's drift spoils every idle alike; the ratio to the pass of the same round after
 * CALIB_IDLE_MS, the idle elms calibrate times every pass after and the live replay settles). */
#include "base/clock.h"
#include "base/fileutil.h"
#include "bench/bench.h"
#include "engine/io.h"
#include "engine/model.h"
#include "engine/score.h"
#include "sim/calibrate.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define SERVE_MODEL "models/base-elastic"
#define FIRST_ROUNDS 9  /* first-touch samples of each kind (<= IDLE_ROUNDS) */
#define IDLE_ROUNDS 15  /* rounds of the idle scan */
#define N_IDLE 6

/* med: the median of x[0..n) (n <= IDLE_ROUNDS; x unchanged) */
static double med(const double *x, int n) {
    double y[IDLE_ROUNDS];
    for (int i = 0; i < n; i++) y[i] = x[i];
    gsl_sort(y, 1, (size_t)n);
    return gsl_stats_median_from_sorted_data(y, 1, (size_t)n);
}

static long minor_faults(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

/* serve: idle idle_ms, then greedy generation of steps + 1 tokens after the n-token prompt tok, in kc (NULL: a
 * cache of its own): *pre_ms the prefill, *tpot_ms the TPOT, *faults (may be NULL) the request's page faults.
 * Returns -1 (printed) when the engine fails. */
static int serve(const Model *m, const ElasticView *v, KVCache *kc, const int *tok, int n, int steps, double idle_ms,
                 double *pre_ms, double *tpot_ms, long *faults) {
    int out[64];
    GenerateTiming gt;
    Err e;
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

void bench_serve(void) {
    if (!path_is_dir(SERVE_MODEL)) {
        printf("skipped (%s not present)\n", SERVE_MODEL);
        return;
    }
    Model m;
    Err e;
    if (model_load(&m, SERVE_MODEL, &e)) {
        printf("%s\n", e.msg);
        return;
    }
    ElasticView v;
    view_full(&m, &v);
    int tok[256];
    for (int i = 0; i < 256; i++) tok[i] = 5 + (i * 7919) % (m.cfg.vocab_size - 5);
    KVCache kc = {0};
    if (kvcache_prepare(&kc, &m, &e)) {
        printf("%s\n", e.msg);
        model_free(&m);
        return;
    }
    /* the first touch: each fresh sample's cache memory has just been given back (malloc_trim), as a request
     * finds it whose size the process has not served before */
    double fresh[FIRST_ROUNDS], kept[FIRST_ROUNDS], tpot;
    long ff = 0, fk = 0, f1 = 0, f2 = 0;
    int rc = 0;
    for (int r = 0; !rc && r < FIRST_ROUNDS; r++) {
#ifdef __GLIBC__
        malloc_trim(0);
#endif
        rc = serve(&m, &v, NULL, tok, 256, 4, 20, &fresh[r], &tpot, &f1) ||
             serve(&m, &v, &kc, tok, 256, 4, 20, &kept[r], &tpot, &f2);
        ff += f1, fk += f2;
    }
    if (rc) goto done;
    printf("first touch, 256-token prefill at level 1.0 (medians of %d): a cache of its own after its memory was "
           "returned %.2f ms (%ld page faults), the kept prepared cache %.2f ms (%ld page faults)\n",
           FIRST_ROUNDS, med(fresh, FIRST_ROUNDS), ff / FIRST_ROUNDS, med(kept, FIRST_ROUNDS), fk / FIRST_ROUNDS);
    /* the idle: every idle once per round, in a rotating order */
    static const double idle[N_IDLE] = {0, 20, 50, CALIB_IDLE_MS, 150, 400};
    enum { REF = 3 }; /* the calibration's idle */
    double tp[N_IDLE][IDLE_ROUNDS], pf[N_IDLE][IDLE_ROUNDS], rt[IDLE_ROUNDS], rp[IDLE_ROUNDS];
    for (int r = 0; !rc && r < IDLE_ROUNDS; r++)
        for (int j = 0; !rc && j < N_IDLE; j++) {
            int k = (j + r) % N_IDLE;
            rc = serve(&m, &v, &kc, tok, 128, 15, idle[k], &pf[k][r], &tp[k][r], NULL);
        }
    if (rc) goto done;
    printf("idle before a request at level 1.0 (128-token prefill, 15 decode steps; medians of %d interleaved "
           "rounds; ratios to the %g ms pass of the same round, the calibration's idle):\n", IDLE_ROUNDS,
           idle[REF]);
    for (int k = 0; k < N_IDLE; k++) {
        for (int r = 0; r < IDLE_ROUNDS; r++) rt[r] = tp[k][r] / tp[REF][r], rp[r] = pf[k][r] / pf[REF][r];
        double ratio_t = med(rt, IDLE_ROUNDS), ratio_p = med(rp, IDLE_ROUNDS);
        printf("  idle %3.0f ms: TPOT %.3f ms (x%.3f), prefill %.2f ms (x%.3f)\n", idle[k], med(tp[k], IDLE_ROUNDS),
               ratio_t, med(pf[k], IDLE_ROUNDS), ratio_p);
    }
done:
    kvcache_free(&kc);
    model_free(&m);
}
