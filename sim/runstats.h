/* runstats: a run's summary (accuracy, SLO met, attained, TTFT percentiles and overhead, prompt ratios, peak
 * memory) from its request rows, computed one way for a replay (sim_run), a merge of shard databases (db_merge)
 * and the migration of old databases. The summary depends only on the multiset of rows, never on their order:
 * counts are integers, and every mean and percentile is taken over the values sorted, so a run merged from shards
 * has the same bits as the run replayed whole. docs/database.md defines each metric. */
#ifndef ELMS_RUNSTATS_H
#define ELMS_RUNSTATS_H

#include <stdbool.h>

#include "engine/err.h"
#include "sim/db.h"

typedef struct SimSummary {
    long requests;                 /* recorded: every request of the trace, or of its shard */
    long with_item, correct, slo_met, attained;
    double accuracy;               /* correct / with_item (NAN when no request had an item) */
    double slo_met_frac;           /* slo_met / requests */
    double attained_frac;          /* attained / with_item (NAN when no request had an item) */
    double ttft_p50_ms, ttft_p99_ms, tpot_p50_ms;
    double ttft_overhead_mean;     /* (tlm_ms + switch_ms) / ttft_ms per request: mean */
    double ttft_overhead_p99;      /* ... and 99th percentile */
    double prompt_ratio;           /* kept_tokens / prompt_tokens per request: mean */
    double target_ratio;           /* the decisions' ratio label: mean */
    double memory_bytes;           /* peak */
    double end_ms;                 /* simulated time when the last request finished (replays only) */
    bool interrupted;
} SimSummary;

/* The rows seen so far: per-request values (n) and running counts. */
typedef struct RunStats {
    long n, cap;
    double *ttft, *tpot, *overhead, *kept, *ratio;
    long with_item, correct, slo_met, attained;
    double memory_peak;
} RunStats;

/* runstats_init: an empty accumulator. */
void runstats_init(RunStats *s);
/* runstats_free: release the arrays (s becomes empty). */
void runstats_free(RunStats *s);
/* runstats_add: count one request row; -1 when memory runs out. */
int runstats_add(RunStats *s, const DbRequest *r, Err *e);
/* runstats_summarize: the counts and metrics of the rows added into out (end_ms and interrupted are left as
 * they are). Sorts the value arrays in place; more rows may be added afterwards. */
void runstats_summarize(RunStats *s, SimSummary *out);
/* runstats_from_db: the summary of run run_id from its committed rows in d (out zeroed first). */
int runstats_from_db(Db *d, long run_id, SimSummary *out, Err *e);

/* sim_summary_row: the runs-table summary of s, finished at the UTC time `finished` (may be NULL). */
void sim_summary_row(const SimSummary *s, const char *finished, DbRunSummary *out);

#endif
