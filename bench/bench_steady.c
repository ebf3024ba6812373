/* bench_steady: how steady this machine is over about a minute, as a command. elms calibrate prices a request by
 * the medians of interleaved rounds taken in one minute; the live replay serves requests in the minutes after. Both
 * assume a request of a given shape costs the same throughout. On a machine whose memory and last-level cache are
 * shared with other work, it does not: this prints how far the same request's cost moves between windows of a few
 * seconds, at three views of models/base-elastic held F32: level 0.2 (its weights well inside the cache capacity
 * elms calibrate fits), 0.7 (just past it) and 1.0 (furthest past it), beside the machine's read rate measured in the same
 * rounds, and the same spread over windows of rounds drawn at random: what the sampling noise of a window's median
 * alone would give on a machine that did not move. */
#include "base/clock.h"
#include "bench/bench.h"
#include "elastic/levels.h"
#include "engine/model.h"
#include "sim/calibrate.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define STEADY_MODEL "models/base-elastic"
#define WINDOWS 12       /* windows of ROUNDS rounds each */
#define ROUNDS 10        /* rounds per window: one read, then every level once, the widest first */
#define PROMPT 80        /* prompt tokens of every request */
#define STEPS 15         /* decode steps of every request */
#define READ_MB 64       /* the read probe's buffer: beyond the last-level cache */
#define DRAWS 20         /* random draws of the windows for the sampling-noise figures */
#define N_LV 3

static const double LV[N_LV] = {0.2, 0.7, 1.0}; /* served in a round from the last to the first: each level after
                                                    * a wider view whose weights hold its own */

/* range: max / min of x[0..n) */
static double range(const double *x, int n) {
    return gsl_stats_max(x, 1, (size_t)n) / gsl_stats_min(x, 1, (size_t)n);
}

/* spread: the mean absolute deviation of the windows' medians win[0..WINDOWS) from the median of all their rounds
 * all[0..WINDOWS * ROUNDS), in percent of the latter: by how much, on average, a price equal to the median of
 * the whole run misses a window's median */
static double spread(const double *win, const double *all) {
    double m = bench_median(all, WINDOWS * ROUNDS), s = 0;
    for (int w = 0; w < WINDOWS; w++) s += fabs(win[w] - m);
    return 100.0 * s / WINDOWS / m;
}

/* spread_noise: spread of windows of ROUNDS rounds drawn at random from all[0..WINDOWS * ROUNDS), the mean over
 * DRAWS draws of g: the spread the sampling noise of a window's median alone gives */
static double spread_noise(const double *all, gsl_rng *g) {
    double x[WINDOWS * ROUNDS], win[WINDOWS], sum = 0;
    for (int d = 0; d < DRAWS; d++) {
        for (int i = 0; i < WINDOWS * ROUNDS; i++) x[i] = all[i];
        gsl_ran_shuffle(g, x, WINDOWS * ROUNDS, sizeof *x);
        for (int w = 0; w < WINDOWS; w++) win[w] = bench_median(x + w * ROUNDS, ROUNDS);
        sum += spread(win, all);
    }
    return sum / DRAWS;
}

void bench_steady(void) {
    Model m;
    if (bench_model_load(STEADY_MODEL, &m)) return;
    LevelSet ls;
    KVCache kc = {0};
    Err e;
    size_t nf = (size_t)READ_MB << 18; /* floats */
    float *buf = aligned_alloc(64, nf * sizeof *buf);
    gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
    int lv_ok = !levelset_load(&ls, &m, STEADY_MODEL, true, &e), li[N_LV];
    if (!lv_ok || kvcache_prepare(&kc, &m, &e)) {
        bench_fail("%s", e.msg);
        goto done;
    }
    if (!buf || !g) {
        bench_fail("out of memory");
        goto done;
    }
    gsl_rng_set(g, 1);
    for (int l = 0; l < N_LV; l++)
        if ((li[l] = levels_index(LV[l])) < 0) {
            bench_fail("level %.1f is not one of the elastic levels", LV[l]);
            goto done;
        }
    for (size_t i = 0; i < nf; i++) buf[i] = (float)(i & 15);
    int tok[PROMPT];
    for (int i = 0; i < PROMPT; i++) tok[i] = 5 + (i * 7919) % (m.cfg.vocab_size - 5);
    /* per window: the medians of its rounds (level, window) and the read rate; per round: its samples */
    double pre[N_LV][WINDOWS], tpot[N_LV][WINDOWS], gbs[WINDOWS], start[WINDOWS];
    double rp[N_LV][WINDOWS * ROUNDS], rt[N_LV][WINDOWS * ROUNDS], rg[ROUNDS];
    printf("%s, %d windows of %d rounds; a round: one read of %d MB, then a request (%d-token prompt, %d decode "
           "steps) at levels 1.0, 0.7 and 0.2, each after %g ms of idle as elms calibrate times it; medians of each "
           "window's rounds\n",
           STEADY_MODEL, WINDOWS, ROUNDS, READ_MB, PROMPT, STEPS, CALIB_IDLE_MS);
    printf("  window  start s   prefill 0.2 / 0.7 / 1.0 ms   TPOT 0.2 / 0.7 / 1.0 ms   read GB/s\n");
    double t0 = clock_wall_s();
    for (int w = 0; w < WINDOWS; w++) {
        start[w] = clock_wall_s() - t0;
        int at = w * ROUNDS;
        for (int r = 0; r < ROUNDS; r++) {
            rg[r] = bench_read_gbs(buf, nf);
            for (int l = N_LV - 1; l >= 0; l--)
                if (bench_request(&m, &ls.view[li[l]], &kc, tok, PROMPT, STEPS, CALIB_IDLE_MS, &rp[l][at + r],
                                  &rt[l][at + r], NULL))
                    goto done;
        }
        for (int l = 0; l < N_LV; l++)
            pre[l][w] = bench_median(rp[l] + at, ROUNDS), tpot[l][w] = bench_median(rt[l] + at, ROUNDS);
        gbs[w] = bench_median(rg, ROUNDS);
        printf("  %6d  %7.1f   %6.3f / %6.3f / %6.3f     %6.3f / %6.3f / %6.3f     %5.1f\n", w + 1, start[w], pre[0][w],
               pre[1][w], pre[2][w], tpot[0][w], tpot[1][w], tpot[2][w], gbs[w]);
    }
    printf("over %.0f s, the window medians range (max / min): prefill x%.2f / x%.2f / x%.2f, TPOT x%.2f / x%.2f / "
           "x%.2f at levels 0.2 / 0.7 / 1.0; read x%.2f\n",
           clock_wall_s() - t0, range(pre[0], WINDOWS), range(pre[1], WINDOWS), range(pre[2], WINDOWS),
           range(tpot[0], WINDOWS), range(tpot[1], WINDOWS), range(tpot[2], WINDOWS), range(gbs, WINDOWS));
    printf("a window's median against the median of all rounds, mean absolute deviation: prefill %.1f%% / %.1f%% / "
           "%.1f%%, TPOT %.1f%% / %.1f%% / %.1f%% (by this much, on average, a price equal to the median of the whole "
           "run misses a window)\n",
           spread(pre[0], rp[0]), spread(pre[1], rp[1]), spread(pre[2], rp[2]), spread(tpot[0], rt[0]),
           spread(tpot[1], rt[1]), spread(tpot[2], rt[2]));
    double noise[2][N_LV]; /* (prefill, TPOT; level), drawn in this order (arguments' order is unspecified) */
    for (int l = 0; l < N_LV; l++) noise[0][l] = spread_noise(rp[l], g), noise[1][l] = spread_noise(rt[l], g);
    printf("the same over windows of rounds drawn at random (the sampling noise of a %d-round median alone, mean of %d "
           "draws): prefill %.1f%% / %.1f%% / %.1f%%, TPOT %.1f%% / %.1f%% / %.1f%%\n",
           ROUNDS, DRAWS, noise[0][0], noise[0][1], noise[0][2], noise[1][0], noise[1][1], noise[1][2]);
    double ratio[WINDOWS];
    for (int w = 0; w < WINDOWS; w++) ratio[w] = tpot[1][w] / tpot[2][w];
    printf("level 0.7's TPOT over level 1.0's: %.3f-%.3f across the windows; correlation of level 1.0's TPOT with "
           "the read rate over the windows: r = %.2f (negative: the windows that read slower decoded slower)\n",
           gsl_stats_min(ratio, 1, WINDOWS), gsl_stats_max(ratio, 1, WINDOWS),
           gsl_stats_correlation(tpot[2], 1, gbs, 1, WINDOWS));
done:
    if (g) gsl_rng_free(g);
    free(buf);
    kvcache_free(&kc);
    if (lv_ok) levelset_free(&ls);
    model_free(&m);
}
