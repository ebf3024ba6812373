/* db_merge: combine results databases into one (`elms db merge OUT IN...`), above all the databases of the shards
 * of a sharded run (`elms sim --shard I/N`, one database per shard, on other machines or processes).
 *
 * What OUT receives from the inputs:
 *   - for every group of complete shard runs with the same configuration (policy and its hash, compressor, trace
 *     and its hash, profile, model hash, scheduler, seed, shard count N), one run holding the requests of shards
 *     1..N, shard 1 of 1, with the summary computed from those requests by runstats: its rows equal the rows of
 *     the run replayed whole (created = the earliest shard's, finished = the latest's, git_rev the shards' when
 *     they agree, command = the merge's). A shard present more than once counts in its newest complete run (the
 *     last input holding one, then the highest id). Shard runs themselves are not copied; runs of another policy
 *     hash (artefacts rebuilt between them) are another group, and another run;
 *   - every complete whole run (shard 1 of 1), copied with its requests;
 *   - the evaluation cache, deduplicated by its key; an entry whose answer (choice or correct) differs from one
 *     already there is an error (the databases come from different code or weights);
 *   - calibration points not already present.
 * A run whose configuration already has a complete whole run in OUT is not added again (results are
 * deterministic: it would be a copy), so merging twice adds nothing. Incomplete runs are ignored. A group missing
 * a shard fails the merge before anything is written, naming the missing shards. Inputs are opened first
 * (db_open, which migrates an older schema in place); OUT may not be one of them. */
#ifndef ELMS_DB_MERGE_H
#define ELMS_DB_MERGE_H

#include "engine/err.h"

typedef struct DbMergeReport {
    long merged_runs, shards;    /* runs made from shards, and the shard runs they hold */
    long copied_runs;            /* complete whole runs copied */
    long present_runs;           /* runs (merged or whole) whose configuration OUT already held */
    long incomplete_runs;        /* incomplete runs of the inputs, ignored */
    long evals_added, evals_present;
    long calibration_added;
} DbMergeReport;

/* db_merge: merge the databases in[0..n_in) into out (created when missing) as described above; command is
 * recorded as the merged runs' command. On failure OUT holds what the inputs merged before the failing step
 * added (each input's evaluations, calibration and whole runs in one transaction, the merged runs in one more),
 * and merging again completes it. */
int db_merge(const char *out, const char *const *in, int n_in, const char *command, DbMergeReport *rep, Err *e);

#endif
