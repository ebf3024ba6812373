/* bench: benchmark programs linked into bin/elms-bench (bench_main.c runs all, or those named on the command
 * line). Each prints figures and asserts nothing. */
#ifndef ELMS_BENCH_H
#define ELMS_BENCH_H

#include "engine/model.h"

#include <stddef.h>

/* bench_peak_rss_mb: peak resident memory of the process so far, MiB. */
double bench_peak_rss_mb(void);
/* bench_fail: print what failed (printf format, a line of its own) where the figures go, and make elms-bench exit
 * with status 1 once every benchmark named has run (a benchmark that is skipped, its model absent, has not failed). */
void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* bench_model_load: load the model directory dir (F32 weights, as the experiments run) into m: 0, or -1 when dir
 * is absent (printed as skipped) or fails to load (bench_fail). */
int bench_model_load(const char *dir, Model *m);
/* bench_median: the median of x[0..n) (n >= 1; x unchanged). */
double bench_median(const double *x, int n);
/* bench_read_gbs: one vectorised read of b[0..n) (n floats, a multiple of 64; b 64-byte aligned), eight independent
 * 8-float accumulators so that memory, not an add chain, bounds it: GB/s. */
double bench_read_gbs(const float *b, size_t n);
/* bench_request: a request as the live service serves it: idle idle_ms, then greedy generation of steps + 1
 * tokens after the n-token prompt tok under v, in kc (NULL: a cache of its own). *pre_ms the prefill, *tpot_ms
 * the TPOT, *faults (may be NULL) the request's minor page faults. Returns -1 (printed) when the engine fails. */
int bench_request(const Model *m, const ElasticView *v, KVCache *kc, const int *tok, int n, int steps, double idle_ms,
                  double *pre_ms, double *tpot_ms, long *faults);

/* bench_engine: the machine's limits (best sgemm, sgemv, vectorised read bandwidth), then for models/base, the 15M
 * and 110M shapes (random weights) and stories260K when present: load time, prefill and decode per elastic level
 * as medians and as fractions of those limits, view-switch time and peak memory. */
void bench_engine(void);
/* bench_serve: on models/base-elastic at level 1.0, a request's prefill in memory touched for the first time
 * against the kept prepared cache, and its prefill and TPOT after 0-400 ms of idle (interleaved rounds, ratios to
 * the calibration's idle, CALIB_IDLE_MS); at levels 0.2, 0.5 and 0.9, prefills and TPOT with the level's unmerged
 * adapter against the same view without it. */
void bench_serve(void);
/* bench_steady: how steady this machine is over about a minute, the floor under a calibration's held-out error and
 * the live replay's: on models/base-elastic, rounds of one read of a 64 MB buffer and a request at levels 1.0, 0.7
 * and 0.2 after the calibration's idle; the medians of each window of rounds, how far they range, the same spread
 * over windows drawn at random (the sampling noise alone), and how level 1.0's TPOT follows the read rate. */
void bench_steady(void);
/* bench_sim: replay a 1,000,000-request trace with a warm evaluation cache (requests per second, with and
 * without SQLite recording) and report peak memory. */
void bench_sim(void);

#endif
