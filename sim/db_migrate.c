/* db_migrate: the schema version of the results database (PRAGMA user_version): a fresh database gets the tables
 * of sim/schema.sql at DB_SCHEMA_VERSION; a version-1 database (user_version 0, the tables before the run
 * metrics, the trace hash and the shard columns), a version-2 one (before the policy hash), a version-3 one
 * (before live runs) and a version-4 one (before the profile hash) are migrated step by step (1 -> 2 -> 3 -> 4 ->
 * 5) in one transaction; anything newer or unrecognised is refused with a message naming the file. */
#include "sim/db.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "sim/runstats.h"

/* Version 1 -> 2: the added columns (in the order sim/schema.sql lists them, so that migrated and fresh tables
 * have the same column order), then the per-request attained flag of every existing row. */
static const char *const MIGRATE_1_2[] = {
    "ALTER TABLE runs ADD COLUMN attained REAL",
    "ALTER TABLE runs ADD COLUMN ttft_overhead_mean REAL",
    "ALTER TABLE runs ADD COLUMN ttft_overhead_p99 REAL",
    "ALTER TABLE runs ADD COLUMN prompt_ratio REAL",
    "ALTER TABLE runs ADD COLUMN target_ratio REAL",
    "ALTER TABLE runs ADD COLUMN prepare_cpu_min REAL",
    "ALTER TABLE runs ADD COLUMN trace_hash TEXT",
    "ALTER TABLE runs ADD COLUMN shard_index INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE runs ADD COLUMN shard_count INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE requests ADD COLUMN attained INTEGER",
    "UPDATE requests SET attained = (correct AND slo_met) WHERE correct IS NOT NULL",
};

/* Version 2 -> 3: the policy hash (after the columns of version 2, as in sim/schema.sql). Runs recorded before it
 * keep NULL: the artefacts they read are unknown, so --skip-complete never takes one of them for a run of a
 * policy that has artefacts (a run with a hash), only for one of a policy without (full, oracle, ...). */
static const char *const MIGRATE_2_3[] = {
    "ALTER TABLE runs ADD COLUMN policy_hash TEXT",
};

/* Version 3 -> 4: live runs (elms sim --live): the run's flag and the simulator's predictions beside each measured
 * request (after the columns of version 3, as in sim/schema.sql). Every earlier run is a simulated one: live 0,
 * predictions NULL. */
static const char *const MIGRATE_3_4[] = {
    "ALTER TABLE runs ADD COLUMN live INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE requests ADD COLUMN pred_queue_ms REAL",
    "ALTER TABLE requests ADD COLUMN pred_tlm_ms REAL",
    "ALTER TABLE requests ADD COLUMN pred_switch_ms REAL",
    "ALTER TABLE requests ADD COLUMN pred_prefill_ms REAL",
    "ALTER TABLE requests ADD COLUMN pred_tpot_ms REAL",
};

/* Version 4 -> 5: the profile hash (after the columns of version 4). Runs recorded before it keep NULL: the
 * version of the profile that priced them is unknown, so --skip-complete never takes one of them for a new run,
 * which always knows its profile's hash: a profile refitted under the same name is replayed, not reused. */
static const char *const MIGRATE_4_5[] = {
    "ALTER TABLE runs ADD COLUMN profile_hash TEXT",
};

static int exec_sql(Db *d, const char *sql, Err *e) {
    char *msg = NULL;
    if (sqlite3_exec(d->h, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    err_set(e, "%s: database: %s: %s", d->path, sql, msg ? msg : sqlite3_errmsg(d->h));
    sqlite3_free(msg);
    return -1;
}

/* query_long: the first column of sql's first row (0 when there is no row). */
static int query_long(Db *d, const char *sql, long *out, Err *e) {
    sqlite3_stmt *s;
    *out = 0;
    if (sqlite3_prepare_v2(d->h, sql, -1, &s, NULL) != SQLITE_OK)
        return err_set(e, "%s: database: %s: %s", d->path, sql, sqlite3_errmsg(d->h));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *out = (long)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return err_set(e, "%s: database: %s: %s", d->path, sql, sqlite3_errmsg(d->h));
    return 0;
}

/* has_column: whether table has a column called name (0 when the table does not exist). */
static int has_column(Db *d, const char *table, const char *name, long *out, Err *e) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pragma_table_info('%s') WHERE name = '%s'", table, name);
    return query_long(d, sql, out, e);
}

/* backfill: the run metrics of version 2 for every complete run, from its requests. */
static int backfill(Db *d, Err *e) {
    sqlite3_stmt *ids, *up;
    if (sqlite3_prepare_v2(d->h, "SELECT id FROM runs WHERE complete = 1 ORDER BY id", -1, &ids, NULL) != SQLITE_OK)
        return err_set(e, "%s: database: migrating runs: %s", d->path, sqlite3_errmsg(d->h));
    if (sqlite3_prepare_v2(d->h, "UPDATE runs SET attained = ?, ttft_overhead_mean = ?, ttft_overhead_p99 = ?, "
                                 "prompt_ratio = ?, target_ratio = ? WHERE id = ?", -1, &up, NULL) != SQLITE_OK) {
        sqlite3_finalize(ids);
        return err_set(e, "%s: database: migrating runs: %s", d->path, sqlite3_errmsg(d->h));
    }
    int rc = 0, step;
    while (!rc && (step = sqlite3_step(ids)) == SQLITE_ROW) {
        long id = (long)sqlite3_column_int64(ids, 0);
        SimSummary s;
        if ((rc = runstats_from_db(d, id, &s, e))) break;
        double v[5] = {s.attained_frac, s.ttft_overhead_mean, s.ttft_overhead_p99, s.prompt_ratio, s.target_ratio};
        for (int k = 0; k < 5; k++) {
            if (!isnan(v[k])) sqlite3_bind_double(up, k + 1, v[k]);
            else sqlite3_bind_null(up, k + 1);
        }
        sqlite3_bind_int64(up, 6, id);
        if (sqlite3_step(up) != SQLITE_DONE)
            rc = err_set(e, "%s: database: migrating run %ld: %s", d->path, id, sqlite3_errmsg(d->h));
        sqlite3_reset(up);
    }
    if (!rc && step != SQLITE_DONE) rc = err_set(e, "%s: database: migrating runs: %s", d->path, sqlite3_errmsg(d->h));
    sqlite3_finalize(ids);
    sqlite3_finalize(up);
    return rc;
}

/* exec_all: the n statements of steps, in order. */
static int exec_all(Db *d, const char *const *steps, size_t n, Err *e) {
    for (size_t i = 0; i < n; i++)
        if (exec_sql(d, steps[i], e)) return -1;
    return 0;
}

/* upgrade: inside the write transaction, bring version v (0 = fresh or version 1; 2; 3; 4) to DB_SCHEMA_VERSION. */
static int upgrade(Db *d, long v, Err *e) {
    long runs_table, v1_column, v2_column, v3_column, v4_column, v5_column;
    if (query_long(d, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'runs'", &runs_table, e))
        return -1;
    if (v == 0 && !runs_table) { /* fresh */
        d->migrated_from = 0;
        return exec_sql(d, DB_SCHEMA_SQL, e);
    }
    if (v != 0 && v != 2 && v != 3 && v != 4)
        return err_set(e, "%s: database: schema version %ld is not one this elms knows (it writes version %d)",
                       d->path, v, DB_SCHEMA_VERSION);
    if (has_column(d, "runs", "memory_bytes", &v1_column, e) || has_column(d, "runs", "attained", &v2_column, e) ||
        has_column(d, "runs", "policy_hash", &v3_column, e) || has_column(d, "runs", "live", &v4_column, e) ||
        has_column(d, "runs", "profile_hash", &v5_column, e))
        return -1;
    /* the columns must be those of version v: each version has the columns of the ones before it and none after */
    if (!v1_column || v2_column != (v >= 2) || v3_column != (v >= 3) || v4_column != (v >= 4) || v5_column) {
        if (v >= 2)
            return err_set(e, "%s: database: table runs has columns this elms does not know (schema version %ld, "
                              "but not its columns): not an elms results database?", d->path, v);
        return err_set(e, "%s: database: table runs has columns this elms does not know (schema version 0, "
                          "neither 1 nor %d): not an elms results database?", d->path, DB_SCHEMA_VERSION);
    }
    d->migrated_from = v == 0 ? 1 : (int)v;
    if (v == 0 && (exec_all(d, MIGRATE_1_2, sizeof MIGRATE_1_2 / sizeof MIGRATE_1_2[0], e) || backfill(d, e)))
        return -1;
    if (v <= 2 && exec_all(d, MIGRATE_2_3, sizeof MIGRATE_2_3 / sizeof MIGRATE_2_3[0], e)) return -1;
    if (v <= 3 && exec_all(d, MIGRATE_3_4, sizeof MIGRATE_3_4 / sizeof MIGRATE_3_4[0], e)) return -1;
    if (exec_all(d, MIGRATE_4_5, sizeof MIGRATE_4_5 / sizeof MIGRATE_4_5[0], e)) return -1;
    return exec_sql(d, DB_SCHEMA_SQL, e); /* and any table the older version lacked */
}

int db_schema_ensure(Db *d, Err *e) {
    long v;
    if (query_long(d, "PRAGMA user_version", &v, e)) return -1;
    if (v == DB_SCHEMA_VERSION) return 0;
    if (v > DB_SCHEMA_VERSION)
        return err_set(e, "%s: database: schema version %ld is newer than this elms's (%d): use a newer elms",
                       d->path, v, DB_SCHEMA_VERSION);
    if (exec_sql(d, "BEGIN IMMEDIATE", e)) return -1;
    /* another process may have created or migrated it while this one waited for the lock */
    int rc = query_long(d, "PRAGMA user_version", &v, e);
    if (!rc && v != DB_SCHEMA_VERSION) {
        rc = upgrade(d, v, e);
        char sql[64];
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", DB_SCHEMA_VERSION);
        if (!rc) rc = exec_sql(d, sql, e);
    }
    if (!rc) rc = exec_sql(d, "COMMIT", e);
    if (rc) sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}
