/* bench_serve: what a served request's time depends on besides its shape, on models/base-elastic at level 1.0 (the
 * live replay's findings, sim/live.h, as a command): the first touch of a request's memory (a 256-token prefill in
 * a cache of its own whose memory was just returned to the system, against the service's kept, prepared cache),
 * and the idle before a request (a 128-token prefill and 15 decode steps after 0 to 400 ms of idle, interleaved
 * so that the machine's drift spoils every idle alike; the ratio to the pass of the same round after
 * CALIB_IDLE_MS, the idle elms calibrate times every pass after and the live replay settles); and what a level's
 * unmerged recovery adapter costs (each level's view served with its adapter and without it, interleaved). */
#include "bench/bench.h"
#include "elastic/levels.h"
#include "engine/model.h"
#include "sim/calibrate.h"

#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define SERVE_MODEL "models/base-elastic"
#define FIRST_ROUNDS 9  /* first-touch samples of each kind */
#define IDLE_ROUNDS 15  /* rounds of the idle scan */
#define N_IDLE 6
#define ADAPTER_ROUNDS 11 /* rounds of the adapter comparison */

/* adapter_cost: levels 0.2, 0.5 and 0.9 of m (its adapters from SERVE_MODEL/lora), each served with its adapter
 * and without it (the same view, v.lora = NULL) after the calibration's idle: a 16- and a 200-token prefill and
 * the TPOT of 15 decode steps after the 200-token one, in the kept cache kc, the two in alternating order per
 * round. Prints the medians and the median per-round ratio with / without, or what failed. */
static void adapter_cost(const Model *m, KVCache *kc, const int *tok) {
    static const double lv[] = {0.2, 0.5, 0.9};
    enum { NL = sizeof lv / sizeof lv[0] };
    LevelSet ls;
    Err e;
    if (levelset_load(&ls, m, SERVE_MODEL, true, &e)) {
        bench_fail("adapter: %s", e.msg);
        return;
    }
    /* (level, with 1 / without 0, round): the 16-token prefill, the 200-token prefill, its TPOT */
    double p16[NL][2][ADAPTER_ROUNDS], p200[NL][2][ADAPTER_ROUNDS], tp[NL][2][ADAPTER_ROUNDS], tpot;
    int rc = 0;
    for (int i = 0; !rc && i < NL; i++)
        if (levels_index(lv[i]) < 0 || !ls.has_lora[levels_index(lv[i])]) {
            bench_fail("adapter: %s has no adapter for level %.1f", SERVE_MODEL, lv[i]);
            rc = -1;
        }
    for (int r = 0; !rc && r < ADAPTER_ROUNDS; r++)
        for (int i = 0; !rc && i < NL; i++)
            for (int j = 0; !rc && j < 2; j++) {
                int with = (j + r) % 2 == 0;
                ElasticView v = ls.view[levels_index(lv[i])];
                if (!with) v.lora = NULL;
                rc = bench_request(m, &v, kc, tok, 16, 1, CALIB_IDLE_MS, &p16[i][with][r], &tpot, NULL) ||
                     bench_request(m, &v, kc, tok, 200, 15, CALIB_IDLE_MS, &p200[i][with][r], &tp[i][with][r], NULL);
            }
    if (!rc) {
        printf("unmerged recovery adapters (rank %d; medians of %d interleaved rounds after %g ms of idle; x = with / "
               "without the level's adapter, the same view):\n",
               ls.lora[levels_index(lv[0])].rank, ADAPTER_ROUNDS, CALIB_IDLE_MS);
        for (int i = 0; i < NL; i++) {
            double x[3][ADAPTER_ROUNDS];
            for (int r = 0; r < ADAPTER_ROUNDS; r++) {
                x[0][r] = p16[i][1][r] / p16[i][0][r];
                x[1][r] = p200[i][1][r] / p200[i][0][r];
                x[2][r] = tp[i][1][r] / tp[i][0][r];
            }
            printf("  level %.1f: 16-token prefill %.3f / %.3f ms (x%.3f), 200-token prefill %.2f / %.2f ms (x%.3f), "
                   "TPOT %.3f / %.3f ms (x%.3f)\n",
                   lv[i], bench_median(p16[i][1], ADAPTER_ROUNDS), bench_median(p16[i][0], ADAPTER_ROUNDS),
                   bench_median(x[0], ADAPTER_ROUNDS), bench_median(p200[i][1], ADAPTER_ROUNDS),
                   bench_median(p200[i][0], ADAPTER_ROUNDS), bench_median(x[1], ADAPTER_ROUNDS),
                   bench_median(tp[i][1], ADAPTER_ROUNDS), bench_median(tp[i][0], ADAPTER_ROUNDS),
                   bench_median(x[2], ADAPTER_ROUNDS));
        }
    }
    levelset_free(&ls);
}

void bench_serve(void) {
    Model m;
    if (bench_model_load(SERVE_MODEL, &m)) return;
    Err e;
    ElasticView v;
    view_full(&m, &v);
    int tok[256];
    for (int i = 0; i < 256; i++) tok[i] = 5 + (i * 7919) % (m.cfg.vocab_size - 5);
    KVCache kc = {0};
    if (kvcache_prepare(&kc, &m, &e)) {
        bench_fail("%s", e.msg);
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
        rc = bench_request(&m, &v, NULL, tok, 256, 4, 20, &fresh[r], &tpot, &f1) ||
             bench_request(&m, &v, &kc, tok, 256, 4, 20, &kept[r], &tpot, &f2);
        ff += f1, fk += f2;
    }
    if (rc) goto done;
    printf("first touch, 256-token prefill at level 1.0 (medians of %d): a cache of its own after its memory was "
           "returned %.2f ms (%ld page faults), the kept prepared cache %.2f ms (%ld page faults)\n",
           FIRST_ROUNDS, bench_median(fresh, FIRST_ROUNDS), ff / FIRST_ROUNDS, bench_median(kept, FIRST_ROUNDS),
           fk / FIRST_ROUNDS);
    /* the idle: every idle once per round, in a rotating order */
    static const double idle[N_IDLE] = {0, 20, 50, CALIB_IDLE_MS, 150, 400};
    enum { REF = 3 }; /* the calibration's idle */
    double tp[N_IDLE][IDLE_ROUNDS], pf[N_IDLE][IDLE_ROUNDS], rt[IDLE_ROUNDS], rp[IDLE_ROUNDS];
    for (int r = 0; !rc && r < IDLE_ROUNDS; r++)
        for (int j = 0; !rc && j < N_IDLE; j++) {
            int k = (j + r) % N_IDLE;
            rc = bench_request(&m, &v, &kc, tok, 128, 15, idle[k], &pf[k][r], &tp[k][r], NULL);
        }
    if (rc) goto done;
    printf("idle before a request at level 1.0 (128-token prefill, 15 decode steps; medians of %d interleaved "
           "rounds; ratios to the %g ms pass of the same round, the calibration's idle):\n", IDLE_ROUNDS,
           idle[REF]);
    for (int k = 0; k < N_IDLE; k++) {
        for (int r = 0; r < IDLE_ROUNDS; r++) rt[r] = tp[k][r] / tp[REF][r], rp[r] = pf[k][r] / pf[REF][r];
        double ratio_t = bench_median(rt, IDLE_ROUNDS), ratio_p = bench_median(rp, IDLE_ROUNDS);
        printf("  idle %3.0f ms: TPOT %.3f ms (x%.3f), prefill %.2f ms (x%.3f)\n", idle[k],
               bench_median(tp[k], IDLE_ROUNDS), ratio_t, bench_median(pf[k], IDLE_ROUNDS), ratio_p);
    }
    adapter_cost(&m, &kc, tok);
done:
    kvcache_free(&kc);
    model_free(&m);
}
