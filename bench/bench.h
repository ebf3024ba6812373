/* bench: benchmark programs linked into bin/elms-bench (bench_main.c runs all, or those named on the command
 * line). Each prints figures and asserts nothing. */
#ifndef ELMS_BENCH_H
#define ELMS_BENCH_H

/* bench_peak_rss_mb: peak resident memory of the process so far, MiB. */
double bench_peak_rss_mb(void);

/* bench_engine: the machine's limits (best sgemm, sgemv, vectorised read bandwidth), then for models/base, the 15M
 * and 110M shapes (random weights) and stories260K when present: load time, prefill and decode per elastic level
 * as medians and as fractions of those limits, view-switch time and peak memory. */
void bench_engine(void);
/* bench_serve: on models/base-elastic at level 1.0, a request's prefill in memory touched for the first time
 * against the kept prepared cache, and its prefill and TPOT after 0-400 ms of idle (interleaved rounds, ratios to
 * the calibration's idle, CALIB_IDLE_MS); at levels 0.2, 0.5 and 0.9, prefills and TPOT with the level's unmerged
 * adapter against the same view without it. */
void bench_serve(void);
/* bench_sim: replay a 1,000,000-request trace with a warm evaluation cache (requests per second, with and
 * without SQLite recording) and report peak memory. */
void bench_sim(void);

#endif
