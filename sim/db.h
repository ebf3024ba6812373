/* db: the SQLite results database (schema in sim/schema.sql, described in docs/database.md).
 * WAL journal, prepared statements, and short write transactions that never wait on the engine: request rows and
 * evaluations are buffered in memory and written in one IMMEDIATE transaction when DB_BATCH are waiting, when the
 * oldest has waited DB_FLUSH_S seconds (checked at the next write), and at db_commit, db_run_finish and db_close.
 * Several processes can therefore write runs into one database at once; each waits up to DB_BUSY_MS for
 * another's short transaction. A run row is committed (complete = 0) before its requests, and marked complete
 * only after the last one, so an interrupted run leaves a consistent database with the run visibly incomplete.
 * Runs are only ever added, never replaced. Every error names the database file.
 *
 * The schema is versioned by PRAGMA user_version (DB_SCHEMA_VERSION). db_open creates a fresh database at the
 * current version, migrates a version-1 database (the tables before the metrics and shard columns; user_version 0),
 * a version-2 one (before the policy hash), a version-3 one (before live runs) or a version-4 one (before the
 * profile hash) in one transaction, filling the metrics of version 2 of complete runs from their requests (the
 * policy and profile hashes of older runs stay NULL, and every older run is a simulated one), and refuses a
 * database of a newer version or one whose tables it does not recognise. */
#ifndef ELMS_DB_H
#define ELMS_DB_H

#include <stdbool.h>

#include "engine/err.h"

#define DB_BATCH 512
#define DB_FLUSH_S 1.0
#define DB_BUSY_MS 120000
#define DB_SCHEMA_VERSION 5

struct sqlite3;
struct sqlite3_stmt;
struct DbPending;

typedef struct Db {
    struct sqlite3 *h;
    struct sqlite3_stmt *st[8]; /* prepared statements (see db.c) */
    char path[1024];            /* for messages */
    struct DbPending *pending;  /* (n_pending) buffered writes, oldest first */
    long n_pending, cap_pending;
    double pending_since;       /* clock_wall_s() of the oldest buffered write */
    int migrated_from;          /* the schema version db_open migrated from, or 0 when it migrated nothing */
} Db;

/* The schema as compiled in; identical to sim/schema.sql (a test checks). */
extern const char DB_SCHEMA_SQL[];
/* The views as compiled in; identical to analysis/views.sql (a test checks). */
extern const char DB_VIEWS_SQL[];

typedef struct DbRun {
    const char *created, *git_rev, *command;
    long seed;
    const char *policy, *compressor, *trace, *profile, *model, *model_hash, *scheduler;
    long n_requests;             /* requests this run replays: the trace's, or its shard's */
    const char *trace_hash;      /* FNV-1a 64 of the trace file (16 hex digits), or NULL */
    double prepare_cpu_min;      /* the policy's offline preparation (prepare.json cpu_min); NAN when none */
    const char *policy_hash;     /* FNV-1a 64 of the prepare.json of the artefacts the policy reads (16 hex digits;
                                    sim_policy_prepared), or NULL when it reads none */
    int shard_index, shard_count; /* 1-based shard of the trace's requests; shard_count 0 or 1: all of them */
    bool live;                   /* served by the real engine (elms sim --live): request times are measured */
    const char *profile_hash;    /* FNV-1a 64 of the profile's JSON (Profile.hash, 16 hex digits), or NULL */
} DbRun;

/* A run's summary (docs/database.md defines each metric; sim_summary_row fills it from a SimSummary). */
typedef struct DbRunSummary {
    const char *finished;
    double accuracy;      /* NAN when no request had an item */
    double slo_met, ttft_p50_ms, ttft_p99_ms, memory_bytes;
    double attained;      /* correct and SLO met, over requests with an item (NAN when none) */
    double ttft_overhead_mean, ttft_overhead_p99; /* (tlm + switch) / ttft over requests */
    double prompt_ratio, target_ratio;            /* kept / full prompt tokens, and the ratio label: means */
} DbRunSummary;

/* One replayed request (a row of `requests`). */
typedef struct DbRequest {
    long request;
    const char *app, *item;                 /* item NULL when none */
    double arrival_ms, slo_ttft_ms, slo_tpot_ms;
    double level, ratio;
    int prompt_tokens, kept_tokens, output_tokens;
    double queue_ms, tlm_ms, switch_ms, prefill_ms, decode_ms, ttft_ms, tpot_ms;
    bool ttft_met, tpot_met, slo_met;
    int choice, correct;                    /* -1 when the request has no item */
    double memory_bytes;
    /* live runs: the simulator's prices of the same decision (the request's times above are measured); the
     * predicted queue is the FCFS wait of the predicted service times in the order the live run served */
    bool has_pred;
    double pred_queue_ms, pred_tlm_ms, pred_switch_ms, pred_prefill_ms, pred_tpot_ms;
} DbRequest;

/* db_open: open or create the database at path at schema version DB_SCHEMA_VERSION, migrating a version-1, -2 or
 * -3 database first (see the header; d->migrated_from says so). Fails, naming the file, on a newer or
 * unknown schema. */
int db_open(Db *d, const char *path, Err *e);
/* db_schema_ensure: bring the database open in d to DB_SCHEMA_VERSION: create the tables of a fresh one, migrate
 * versions 1, 2 and 3 (db_open calls it; sim/db_migrate.c). */
int db_schema_ensure(Db *d, Err *e);
/* db_close: commit pending writes and close. */
void db_close(Db *d);
/* db_commit: write the buffered writes in one short transaction (no-op when none). */
int db_commit(Db *d, Err *e);

/* db_run_begin: add run r (complete = 0) and commit it before any of its requests; *run_id is its id. */
int db_run_begin(Db *d, const DbRun *r, long *run_id, Err *e);
/* db_run_finish: commit the buffered writes, then mark run_id complete with summary s (NaN fields stored NULL). */
int db_run_finish(Db *d, long run_id, const DbRunSummary *s, Err *e);
/* db_request_add: buffer one request row of run_id (its attained column is derived: correct and slo_met). */
int db_request_add(Db *d, long run_id, const DbRequest *r, Err *e);
/* db_run_find_complete: the newest complete run with the configuration of r (policy and its hash, compressor,
 * trace and its hash, profile, model hash, scheduler, seed, shard, live or simulated), for resuming experiments: *run_id = its id (0
 * when there is none), and when found its summary into *s (finished left NULL) and its request count into
 * *n_requests. A run without a trace hash never matches; policy hashes match when equal or both NULL, so a run of
 * rebuilt artefacts (`elms prepare NAME --force`) is not taken for the old one. */
int db_run_find_complete(Db *d, const DbRun *r, long *run_id, DbRunSummary *s, long *n_requests, Err *e);

/* db_eval_get: *found = 1 and the outcome when (model_hash, config, app, item) is cached. */
int db_eval_get(Db *d, const char *model_hash, const char *config, const char *app, const char *item, int *choice,
                int *correct, double *margin, int *found, Err *e);
/* db_eval_put: store the outcome of (model_hash, config, app, item), buffered in the open write transaction. */
int db_eval_put(Db *d, const char *model_hash, const char *config, const char *app, const char *item, int choice,
                int correct, double margin, Err *e);

/* db_calibration_add: one timed point of a calibration into table calibration, in a short transaction of its own
 * (what is buffered is committed first); a NaN level or predicted_ms and a negative tokens are stored as NULL. */
int db_calibration_add(Db *d, const char *created, const char *profile, const char *model, const char *phase,
                       double level, long tokens, double measured_ms, double predicted_ms, Err *e);

/* db_views_apply: drop and create the views of analysis/views.sql in d, in one transaction. */
int db_views_apply(Db *d, Err *e);

/* db_now_utc: the current UTC time as ISO 8601 into out (at least 32 bytes). */
void db_now_utc(char *out, int cap);

#endif
