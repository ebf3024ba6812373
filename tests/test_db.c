/* Tests of the results database: the compiled-in schema equals sim/schema.sql, the content of a small run and its
 * metrics (re-derived in SQL from the request rows), runs never overwrite each other, interrupted runs stay
 * incomplete, identical runs give identical tables, version-1 and version-2 databases are migrated to the same
 * values and the column order of a fresh one and a newer one refused, a complete run is found only for the
 * policy hash it was recorded with, and `elms sim` end to end. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "engine/io.h"
#include "tests/test.h"
#include "tests/test_sim_fixture.h"

TEST(db_schema_matches_schema_sql) {
    char *text;
    size_t len;
    Err e;
    CHECK(io_read_file("sim/schema.sql", &text, &len, &e) == 0);
    CHECK_MSG(!strcmp(text, DB_SCHEMA_SQL), "sim/db_schema.c is out of date with sim/schema.sql");
    free(text);
}

TEST(db_views_match_analysis_views_sql) {
    char *text;
    size_t len;
    Err e;
    CHECK(io_read_file("analysis/views.sql", &text, &len, &e) == 0);
    CHECK_MSG(!strcmp(text, DB_VIEWS_SQL), "sim/db_views.c is out of date with analysis/views.sql");
    free(text);
}

/* One integer or real from a query. */
static double q1(sqlite3 *h, const char *sql) {
    sqlite3_stmt *s;
    double v = -12345;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_type(s, 0) == SQLITE_NULL ? -999 : sqlite3_column_double(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* A text dump of a query's rows (every column as text), malloc'd. */
static char *dump(sqlite3 *h, const char *sql) {
    sqlite3_stmt *s;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    out[0] = 0;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) return out;
    while (sqlite3_step(s) == SQLITE_ROW)
        for (int c = 0; c < sqlite3_column_count(s); c++) {
            const char *v = (const char *)sqlite3_column_text(s, c);
            size_t n = strlen(v ? v : "NULL") + 2;
            if (len + n + 1 > cap) out = realloc(out, cap *= 2);
            len += (size_t)snprintf(out + len, cap - len, "%s%c", v ? v : "NULL", c + 1 < sqlite3_column_count(s) ? '|' : '\n');
        }
    sqlite3_finalize(s);
    return out;
}

/* Stops the run after `left` more requests. */
typedef struct Stopper {
    long left;
    volatile sig_atomic_t stop;
} Stopper;

static void count_down(void *ctx, const DbRequest *r) {
    (void)r;
    Stopper *s = ctx;
    if (--s->left == 0) s->stop = 1;
}

/* Replays tr under policy into db as a new run; stop_after > 0 interrupts it after that many requests (the run
 * is then left incomplete, as the CLI leaves it). */
static int replay(SimFixture *f, Db *db, const char *policy, const Trace *tr, long stop_after, SimSummary *s) {
    Err e;
    Policy p;
    PolicyEnv env = {.base = &f->model, .tok = &f->tok, .compressor = "random", .seed = 42,
                     .hooks = sim_hooks(&f->ctx)};
    if (policy_create(&p, policy, &e) || policy_prepare(&p, &env, &e)) return -1;
    DbRun run = {.created = "2000-01-01T00:00:00Z", .command = "test", .seed = 42, .policy = policy,
                 .compressor = "random", .trace = "t", .profile = f->prof.name, .model = "m",
                 .model_hash = f->model.hash, .scheduler = "fcfs", .n_requests = tr->n};
    long id;
    Stopper st = {stop_after, 0};
    SimOptions o = {.stop = &st.stop, .on_record = stop_after ? count_down : NULL, .hook_ctx = &st};
    int rc = db_run_begin(db, &run, &id, &e);
    if (!rc) rc = sim_run(&f->ctx, &p, tr, &o, db, id, s, &e);
    if (!rc && !s->interrupted) {
        DbRunSummary sum;
        sim_summary_row(s, "2000-01-01T00:00:01Z", &sum);
        rc = db_run_finish(db, id, &sum, &e);
    }
    if (rc) fprintf(stderr, "replay: %s\n", e.msg);
    policy_destroy(&p);
    return rc;
}

TEST(db_content_of_a_small_run) {
    char path[700];
    snprintf(path, sizeof path, "%s/r.db", test_tmpdir());
    Db db;
    Err e;
    CHECK(db_open(&db, path, &e) == 0);
    SimFixture f;
    fixture_init(&f, "normalized", 8, 1, &db);
    Trace tr;
    fixture_trace(&tr, 8, 30, 0.0, ARRIVAL_SEQUENTIAL, 1, 2);
    SimSummary s1, s2, s3;
    CHECK(replay(&f, &db, "full", &tr, 0, &s1) == 0);
    CHECK(replay(&f, &db, "oracle", &tr, 0, &s2) == 0);
    CHECK(replay(&f, &db, "full", &tr, 7, &s3) == 0);
    CHECK(s3.interrupted && s3.requests == 7);
    db_close(&db);
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    CHECK(q1(h, "SELECT count(*) FROM runs") == 3);
    CHECK(q1(h, "SELECT sum(complete) FROM runs") == 2);
    CHECK(q1(h, "SELECT complete FROM runs WHERE id = 3") == 0);
    CHECK(q1(h, "SELECT count(*) FROM requests WHERE run = 1") == 30);
    CHECK(q1(h, "SELECT count(*) FROM requests WHERE run = 2") == 30);
    CHECK(q1(h, "SELECT count(*) FROM requests WHERE run = 3") == 7);
    CHECK(q1(h, "SELECT count(DISTINCT request) FROM requests WHERE run = 1") == 30);
    CHECK(q1(h, "SELECT sum(correct) FROM requests WHERE run = 1") == s1.correct);
    CHECK(q1(h, "SELECT sum(correct) FROM requests WHERE run = 2") == s2.correct);
    CHECK_NEAR(q1(h, "SELECT accuracy FROM runs WHERE id = 2"), s2.accuracy, 1e-12);
    CHECK_NEAR(q1(h, "SELECT ttft_p50_ms FROM runs WHERE id = 1"), s1.ttft_p50_ms, 1e-9);
    CHECK(q1(h, "SELECT count(*) FROM requests WHERE run = 1 AND (level != 1 OR ratio != 1)") == 0);
    CHECK(q1(h, "SELECT count(*) FROM requests WHERE abs(ttft_ms - (queue_ms + tlm_ms + switch_ms + prefill_ms)) "
                "> 1e-9") == 0);
    CHECK(q1(h, "SELECT count(*) FROM requests WHERE slo_met != (ttft_met AND tpot_met)") == 0);
    /* the metrics of version 2, re-derived from the rows */
    CHECK(q1(h, "SELECT count(*) FROM requests WHERE attained IS NOT (CASE WHEN correct IS NULL THEN NULL "
                "ELSE correct AND slo_met END)") == 0);
    for (int run = 1; run <= 2; run++) {
        char sql[400];
        snprintf(sql, sizeof sql, "SELECT (SELECT attained FROM runs WHERE id = %d) - avg(attained) FROM requests "
                 "WHERE run = %d", run, run);
        CHECK_NEAR(q1(h, sql), 0, 1e-12);
        snprintf(sql, sizeof sql, "SELECT (SELECT ttft_overhead_mean FROM runs WHERE id = %d) - "
                 "avg((tlm_ms + switch_ms) / ttft_ms) FROM requests WHERE run = %d", run, run);
        CHECK_NEAR(q1(h, sql), 0, 1e-12);
        snprintf(sql, sizeof sql, "SELECT (SELECT prompt_ratio FROM runs WHERE id = %d) - "
                 "avg(kept_tokens * 1.0 / prompt_tokens) FROM requests WHERE run = %d", run, run);
        CHECK_NEAR(q1(h, sql), 0, 1e-12);
        snprintf(sql, sizeof sql, "SELECT (SELECT target_ratio FROM runs WHERE id = %d) - avg(ratio) FROM requests "
                 "WHERE run = %d", run, run);
        CHECK_NEAR(q1(h, sql), 0, 1e-12);
    }
    CHECK(q1(h, "SELECT target_ratio FROM runs WHERE id = 1") == 1.0);
    CHECK(q1(h, "SELECT target_ratio FROM runs WHERE id = 2") < 1.0); /* the oracle compresses some prompts */
    CHECK(q1(h, "SELECT count(*) FROM runs WHERE shard_index != 1 OR shard_count != 1") == 0);
    /* full-model evaluations: one per distinct item, shared by the oracle's and the third run */
    double distinct = q1(h, "SELECT count(DISTINCT app || '/' || item) FROM requests WHERE run = 1");
    CHECK(q1(h, "SELECT count(*) FROM evals WHERE config = (SELECT config FROM evals ORDER BY length(config) "
                "LIMIT 1)") <= distinct);
    CHECK(q1(h, "SELECT count(*) FROM evals") >= distinct);
    CHECK(q1(h, "SELECT count(*) FROM evals e JOIN requests r ON r.app = e.app AND r.item = e.item AND r.run = 1 "
                "AND e.config LIKE '%keep=all' AND e.correct = r.correct") >= 30);
    char *ok = dump(h, "PRAGMA integrity_check");
    CHECK(!strcmp(ok, "ok\n"));
    free(ok);
    sqlite3_close(h);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(db_identical_runs_give_identical_tables) {
    char *d[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/d%d.db", test_tmpdir(), k);
        Db db;
        Err e;
        CHECK(db_open(&db, path, &e) == 0);
        SimFixture f;
        fixture_init(&f, "normalized", 8, 1, &db);
        Trace tr;
        fixture_trace(&tr, 8, 24, 0.25, ARRIVAL_POISSON, 50, 9);
        SimSummary s;
        CHECK(replay(&f, &db, "oracle", &tr, 0, &s) == 0);
        db_close(&db);
        sqlite3 *h;
        CHECK(sqlite3_open(path, &h) == SQLITE_OK);
        char *a = dump(h, "SELECT * FROM requests ORDER BY run, request");
        char *b = dump(h, "SELECT * FROM evals ORDER BY model_hash, config, app, item");
        d[k] = malloc(strlen(a) + strlen(b) + 1);
        strcpy(d[k], a);
        strcat(d[k], b);
        free(a);
        free(b);
        sqlite3_close(h);
        trace_free(&tr);
        fixture_free(&f);
    }
    CHECK(strlen(d[0]) > 1000);
    CHECK_MSG(!strcmp(d[0], d[1]), "the two databases differ");
    free(d[0]);
    free(d[1]);
}

/* The columns schema versions 5 and 4 added, as a version-3 database lacks them: version 5's first (a version-4
 * database lacks only it), then version 4's (runs.live, then those of requests). */
static const char *const V4_V5_COLUMNS[] = {"runs.profile_hash", "runs.live", "requests.pred_queue_ms",
                                            "requests.pred_tlm_ms", "requests.pred_switch_ms",
                                            "requests.pred_prefill_ms", "requests.pred_tpot_ms"};
#define N_V4_V5_COLUMNS (sizeof V4_V5_COLUMNS / sizeof V4_V5_COLUMNS[0])

/* The columns schema versions 2 to 5 added, as a version-1 database lacks them. */
static const char *const V2_V5_COLUMNS[] = {"runs.profile_hash", "runs.attained", "runs.ttft_overhead_mean",
                                            "runs.ttft_overhead_p99", "runs.prompt_ratio", "runs.target_ratio",
                                            "runs.prepare_cpu_min", "runs.trace_hash", "runs.shard_index",
                                            "runs.shard_count",
                                            "requests.attained", "runs.policy_hash", "runs.live",
                                            "requests.pred_queue_ms", "requests.pred_tlm_ms",
                                            "requests.pred_switch_ms", "requests.pred_prefill_ms",
                                            "requests.pred_tpot_ms"};

/* drop_columns: drop the n TABLE.COLUMN columns of cols from h (an older version's tables). */
static void drop_columns(TestCtx *t, sqlite3 *h, const char *const *cols, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char sql[200];
        const char *dot = strchr(cols[i], '.');
        snprintf(sql, sizeof sql, "ALTER TABLE %.*s DROP COLUMN %s", (int)(dot - cols[i]), cols[i], dot + 1);
        CHECK_MSG(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h));
    }
}

/* The columns of a table in order, one a line (malloc'd): migrated and fresh tables must have the same. */
static char *column_order(sqlite3 *h, const char *table) {
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info('%s') ORDER BY cid",
             table);
    return dump(h, sql);
}

/* fresh_column_order: column_order of table in a database db_open creates (test_path(name)). */
static char *fresh_column_order(TestCtx *t, const char *name, const char *table) {
    Db db;
    Err e;
    sqlite3 *h;
    CHECK(db_open(&db, test_path(name), &e) == 0);
    db_close(&db);
    CHECK(sqlite3_open(test_path(name), &h) == SQLITE_OK);
    char *cols = column_order(h, table);
    sqlite3_close(h);
    return cols;
}

/* record_full_and_oracle: a fresh database at path holding a complete `full` and `oracle` run of an n-request
 * sequential fixture trace (seed), their summaries in s1 and s2. */
static void record_full_and_oracle(TestCtx *t, const char *path, int n, unsigned long seed, SimSummary *s1,
                                   SimSummary *s2) {
    Db db;
    Err e;
    CHECK(db_open(&db, path, &e) == 0);
    CHECK(db.migrated_from == 0);
    SimFixture f;
    fixture_init(&f, "normalized", 8, 1, &db);
    Trace tr;
    fixture_trace(&tr, 8, n, 0.0, ARRIVAL_SEQUENTIAL, 1, seed);
    CHECK(replay(&f, &db, "full", &tr, 0, s1) == 0);
    CHECK(replay(&f, &db, "oracle", &tr, 0, s2) == 0);
    db_close(&db);
    trace_free(&tr);
    fixture_free(&f);
}

TEST(db_migrates_version_1_and_refuses_others) {
    const char *path = test_path("v1.db");
    SimSummary s1, s2;
    record_full_and_oracle(t, path, 30, 2, &s1, &s2);
    Db db;
    Err e;
    const char *cols = "SELECT id, accuracy, slo_met, attained, ttft_overhead_mean, ttft_overhead_p99, prompt_ratio, "
                       "target_ratio, shard_index, shard_count FROM runs ORDER BY id";
    const char *reqs = "SELECT run, request, attained FROM requests ORDER BY run, request";
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    char *before = dump(h, cols), *before_req = dump(h, reqs);
    /* make it the version-1 database an older elms wrote: no v2 to v5 columns, user_version 0 */
    drop_columns(t, h, V2_V5_COLUMNS, sizeof V2_V5_COLUMNS / sizeof V2_V5_COLUMNS[0]);
    CHECK(sqlite3_exec(h, "PRAGMA user_version = 0", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    CHECK(db_open(&db, path, &e) == 0);
    CHECK(db.migrated_from == 1);
    db_close(&db);
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    CHECK(q1(h, "PRAGMA user_version") == DB_SCHEMA_VERSION);
    char *after = dump(h, cols), *after_req = dump(h, reqs);
    CHECK_MSG(!strcmp(before, after), "migrated runs differ:\n%s\nvs\n%s", before, after);
    CHECK(!strcmp(before_req, after_req));
    CHECK(q1(h, "SELECT count(*) FROM runs WHERE policy_hash IS NULL AND profile_hash IS NULL") == 2);
    /* through versions 2, 3 and 4 to 5: the same columns in the same order as a fresh database */
    for (int k = 0; k < 2; k++) {
        const char *table = k ? "requests" : "runs";
        char *migrated = column_order(h, table), *fresh = fresh_column_order(t, "v1-fresh.db", table);
        CHECK_MSG(!strcmp(migrated, fresh), "%s: migrated columns\n%s\nvs fresh\n%s", table, migrated, fresh);
        free(migrated);
        free(fresh);
    }
    free(before);
    free(after);
    free(before_req);
    free(after_req);
    /* a newer version, and tables of another program, are refused with the file named */
    CHECK(sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    CHECK(db_open(&db, path, &e) != 0);
    CHECK_MSG(strstr(e.msg, "v1.db") && strstr(e.msg, "schema version 99 is newer"), "%s", e.msg);
    const char *other = test_path("other.db");
    CHECK(sqlite3_open(other, &h) == SQLITE_OK);
    CHECK(sqlite3_exec(h, "CREATE TABLE runs (x)", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(h);
    CHECK(db_open(&db, other, &e) != 0);
    CHECK_MSG(strstr(e.msg, "other.db") && strstr(e.msg, "not an elms results database"), "%s", e.msg);
}

/* The table runs of schema version 2, as sim/schema.sql created it (requests, evals and calibration are the same
 * in version 3), and its columns. */
static const char V2_RUNS_SQL[] =
    "CREATE TABLE IF NOT EXISTS runs (\n"
    "    id          INTEGER PRIMARY KEY AUTOINCREMENT,\n"
    "    created     TEXT NOT NULL,              -- UTC, ISO 8601\n"
    "    git_rev     TEXT,                       -- revision of the code that produced the run\n"
    "    command     TEXT NOT NULL,              -- the command line\n"
    "    seed        INTEGER NOT NULL,\n"
    "    policy      TEXT NOT NULL,\n"
    "    compressor  TEXT,\n"
    "    trace       TEXT NOT NULL,\n"
    "    profile     TEXT NOT NULL,\n"
    "    model       TEXT NOT NULL,\n"
    "    model_hash  TEXT NOT NULL,\n"
    "    scheduler   TEXT NOT NULL,              -- fcfs or edf\n"
    "    n_requests  INTEGER NOT NULL,           -- requests in the trace\n"
    "    complete    INTEGER NOT NULL DEFAULT 0, -- 1 once every request is recorded; 0 = running or interrupted\n"
    "    finished    TEXT,\n"
    "    accuracy    REAL,                       -- summary, filled when complete\n"
    "    slo_met     REAL,\n"
    "    ttft_p50_ms REAL,\n"
    "    ttft_p99_ms REAL,\n"
    "    memory_bytes REAL,\n"
    "    attained    REAL,                       -- v2: correct and SLO met, over requests with an item\n"
    "    ttft_overhead_mean REAL,                -- v2: (tlm + switch) / ttft per request, mean\n"
    "    ttft_overhead_p99  REAL,                -- v2: ... and 99th percentile\n"
    "    prompt_ratio REAL,                      -- v2: kept / full prompt tokens per request, mean\n"
    "    target_ratio REAL,                      -- v2: the decisions' ratio label, mean\n"
    "    prepare_cpu_min REAL,                   -- v2: the policy's preparation (prepare.json), CPU min\n"
    "    trace_hash  TEXT,                       -- v2: FNV-1a 64 of the trace file\n"
    "    shard_index INTEGER NOT NULL DEFAULT 1, -- v2: the run replays the trace's requests k (0-based trace order)\n"
    "    shard_count INTEGER NOT NULL DEFAULT 1  -- v2: with k mod shard_count = shard_index - 1\n"
    ");\n";
static const char V2_RUNS_COLUMNS[] =
    "id, created, git_rev, command, seed, policy, compressor, trace, profile, model, model_hash, scheduler, "
    "n_requests, complete, finished, accuracy, slo_met, ttft_p50_ms, ttft_p99_ms, memory_bytes, attained, "
    "ttft_overhead_mean, ttft_overhead_p99, prompt_ratio, target_ratio, prepare_cpu_min, trace_hash, shard_index, "
    "shard_count";

/* The requests of versions 2 and 3 (every column before version 4's), in order. */
static const char REQS_V2[] =
    "SELECT run, request, app, item, arrival_ms, slo_ttft_ms, slo_tpot_ms, level, ratio, prompt_tokens, kept_tokens, "
    "output_tokens, queue_ms, tlm_ms, switch_ms, prefill_ms, decode_ms, ttft_ms, tpot_ms, ttft_met, tpot_met, "
    "slo_met, choice, correct, memory_bytes, attained FROM requests ORDER BY run, request";

/* EXEC_OK: run sql on h, failing the test with SQLite's message. */
#define EXEC_OK(h, sql) CHECK_MSG(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(h))

TEST(db_migrates_version_2) {
    /* runs recorded by this elms, copied into a database with the tables of version 2 */
    const char *src = test_path("v3-src.db"), *path = test_path("v2.db");
    SimSummary s1, s2;
    record_full_and_oracle(t, src, 24, 3, &s1, &s2);
    Db db;
    Err e;
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    EXEC_OK(h, V2_RUNS_SQL);
    EXEC_OK(h, DB_SCHEMA_SQL); /* the other tables, unchanged since version 2 */
    char sql[1200];
    snprintf(sql, sizeof sql, "ATTACH DATABASE '%s' AS src", src);
    EXEC_OK(h, sql);
    snprintf(sql, sizeof sql, "INSERT INTO runs (%s) SELECT %s FROM src.runs", V2_RUNS_COLUMNS, V2_RUNS_COLUMNS);
    EXEC_OK(h, sql);
    EXEC_OK(h, "INSERT INTO requests SELECT * FROM src.requests");
    EXEC_OK(h, "INSERT INTO evals SELECT * FROM src.evals");
    EXEC_OK(h, "DETACH DATABASE src");
    drop_columns(t, h, V4_V5_COLUMNS + 2, N_V4_V5_COLUMNS - 2); /* requests as version 2 had it (runs: V2_RUNS_SQL) */
    EXEC_OK(h, "UPDATE runs SET prepare_cpu_min = 1.5 WHERE policy = 'oracle'"); /* a value to keep */
    EXEC_OK(h, "PRAGMA user_version = 2");
    CHECK(q1(h, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'policy_hash'") == 0);
    snprintf(sql, sizeof sql, "SELECT %s FROM runs ORDER BY id", V2_RUNS_COLUMNS);
    const char *reqs = "SELECT * FROM requests ORDER BY run, request";
    const char *evals = "SELECT * FROM evals ORDER BY model_hash, config, app, item";
    char *before = dump(h, sql), *before_req = dump(h, reqs), *before_evals = dump(h, evals);
    sqlite3_close(h);
    CHECK(strlen(before_req) > 1000);
    /* opened by this elms: migrated from version 2, the rows kept, the column added (NULL: artefacts unknown) */
    CHECK_MSG(db_open(&db, path, &e) == 0, "%s", e.msg);
    CHECK(db.migrated_from == 2);
    db_close(&db);
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    CHECK(q1(h, "PRAGMA user_version") == 5 && DB_SCHEMA_VERSION == 5);
    char *after = dump(h, sql), *after_req = dump(h, REQS_V2), *after_evals = dump(h, evals);
    CHECK_MSG(!strcmp(before, after), "migrated runs differ:\n%s\nvs\n%s", before, after);
    CHECK(!strcmp(before_req, after_req));
    CHECK(!strcmp(before_evals, after_evals));
    CHECK(q1(h, "SELECT count(*) FROM runs WHERE policy_hash IS NULL") == 2);
    CHECK(q1(h, "SELECT prepare_cpu_min FROM runs WHERE policy = 'oracle'") == 1.5);
    char *migrated = column_order(h, "runs"), *fresh = fresh_column_order(t, "v2-fresh.db", "runs");
    CHECK_MSG(!strcmp(migrated, fresh), "migrated columns\n%s\nvs fresh\n%s", migrated, fresh);
    sqlite3_close(h);
    /* opening it again migrates nothing */
    CHECK(db_open(&db, path, &e) == 0);
    CHECK(db.migrated_from == 0);
    db_close(&db);
    free(before);
    free(after);
    free(before_req);
    free(after_req);
    free(before_evals);
    free(after_evals);
    free(migrated);
    free(fresh);
    /* version 2 on tables that are not version 2's, and a version elms never wrote, are refused */
    const char *odd = test_path("odd-v2.db");
    CHECK(sqlite3_open(odd, &h) == SQLITE_OK);
    EXEC_OK(h, "CREATE TABLE runs (x)");
    EXEC_OK(h, "PRAGMA user_version = 2");
    sqlite3_close(h);
    CHECK(db_open(&db, odd, &e) != 0);
    CHECK_MSG(strstr(e.msg, "odd-v2.db") && strstr(e.msg, "schema version 2, but not its columns"), "%s", e.msg);
    CHECK(sqlite3_open(odd, &h) == SQLITE_OK);
    EXEC_OK(h, "PRAGMA user_version = 1");
    sqlite3_close(h);
    CHECK(db_open(&db, odd, &e) != 0);
    CHECK_MSG(strstr(e.msg, "odd-v2.db") && strstr(e.msg, "schema version 1 is not one this elms knows"), "%s",
              e.msg);
}

/* older_migrates: path holds the tables of schema version v (the caller dropped the later columns); with
 * user_version v, db_open migrates it from v, keeping runs_sql's and reqs_sql's rows as they were, to the current
 * version, whose tables then have the columns of a fresh database in the same order (fresh: a scratch name).
 * Returns the migrated database, open. */
static sqlite3 *older_migrates(TestCtx *t, const char *path, int v, const char *runs_sql, const char *reqs_sql,
                               const char *fresh_name) {
    sqlite3 *h;
    char sql[64];
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    EXEC_OK(h, sql);
    char *before = dump(h, runs_sql), *before_req = dump(h, reqs_sql);
    sqlite3_close(h);
    CHECK(strlen(before_req) > 500);
    Db db;
    Err e;
    CHECK_MSG(db_open(&db, path, &e) == 0, "%s", e.msg);
    CHECK(db.migrated_from == v);
    db_close(&db);
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    CHECK(q1(h, "PRAGMA user_version") == DB_SCHEMA_VERSION);
    char *after = dump(h, runs_sql), *after_req = dump(h, reqs_sql);
    CHECK_MSG(!strcmp(before, after), "migrated runs differ:\n%s\nvs\n%s", before, after);
    CHECK(!strcmp(before_req, after_req));
    for (int k = 0; k < 2; k++) {
        const char *table = k ? "requests" : "runs";
        char *migrated = column_order(h, table), *fresh = fresh_column_order(t, fresh_name, table);
        CHECK_MSG(!strcmp(migrated, fresh), "%s: migrated columns\n%s\nvs fresh\n%s", table, migrated, fresh);
        free(migrated);
        free(fresh);
    }
    free(before);
    free(after);
    free(before_req);
    free(after_req);
    return h;
}

/* refuses_current_as: db_open refuses path (at the current version) once its user_version says v, naming the file
 * (name) and the mismatch. */
static void refuses_current_as(TestCtx *t, const char *path, int v, const char *name) {
    sqlite3 *h;
    char sql[64], want[64];
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    EXEC_OK(h, sql);
    sqlite3_close(h);
    Db db;
    Err e;
    CHECK(db_open(&db, path, &e) != 0);
    snprintf(want, sizeof want, "schema version %d, but not its columns", v);
    CHECK_MSG(strstr(e.msg, name) && strstr(e.msg, want), "%s", e.msg);
}

/* record_older: two runs recorded by this elms into path (requests n, seed), then the n_cols columns of cols
 * dropped: the tables an older version wrote (DROP COLUMN cuts the table's text at the last comma before the
 * column, so the comments of the columns before runs.live and runs.profile_hash have none). */
static void record_older(TestCtx *t, const char *path, int n, unsigned long seed, const char *const *cols,
                         size_t n_cols) {
    SimSummary s1, s2;
    record_full_and_oracle(t, path, n, seed, &s1, &s2);
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    drop_columns(t, h, cols, n_cols);
    sqlite3_close(h);
}

TEST(db_migrates_version_3) {
    const char *path = test_path("v3.db");
    record_older(t, path, 20, 5, V4_V5_COLUMNS, N_V4_V5_COLUMNS);
    char runs_sql[1200];
    snprintf(runs_sql, sizeof runs_sql, "SELECT %s, policy_hash FROM runs ORDER BY id", V2_RUNS_COLUMNS);
    sqlite3 *h = older_migrates(t, path, 3, runs_sql, REQS_V2, "v3-fresh.db");
    /* every older run is a simulated one: live 0, no predictions */
    CHECK(q1(h, "SELECT count(*) FROM runs WHERE live = 0") == 2);
    CHECK(q1(h, "SELECT count(*) FROM requests WHERE pred_queue_ms IS NOT NULL OR pred_tlm_ms IS NOT NULL OR "
                "pred_switch_ms IS NOT NULL OR pred_prefill_ms IS NOT NULL OR pred_tpot_ms IS NOT NULL") == 0);
    sqlite3_close(h);
    /* version 3 on tables that already have version 4's columns is refused */
    refuses_current_as(t, path, 3, "v3.db");
}

TEST(db_migrates_version_4) {
    const char *path = test_path("v4.db");
    record_older(t, path, 20, 4, V4_V5_COLUMNS, 1); /* version 4: no profile hash */
    char runs_sql[1200];
    snprintf(runs_sql, sizeof runs_sql, "SELECT %s, policy_hash, live FROM runs ORDER BY id", V2_RUNS_COLUMNS);
    sqlite3 *h = older_migrates(t, path, 4, runs_sql, "SELECT * FROM requests ORDER BY run, request", "v4-fresh.db");
    /* the version of the profile that priced an older run is unknown */
    CHECK(q1(h, "SELECT count(*) FROM runs WHERE profile_hash IS NULL") == 2);
    sqlite3_close(h);
    /* version 4 on tables that already have version 5's column is refused */
    refuses_current_as(t, path, 4, "v4.db");
}

TEST(db_find_complete_matches_the_policy_hash) {
    Db db;
    Err e;
    CHECK(db_open(&db, test_path("find.db"), &e) == 0);
    DbRun r = {.created = "2000-01-01T00:00:00Z", .command = "test", .seed = 42, .policy = "shortgpt",
               .compressor = "random", .trace = "t.jsonl", .profile = "normalized", .model = "m",
               .model_hash = "00000000000000aa", .scheduler = "fcfs", .n_requests = 5,
               .trace_hash = "00000000000000bb", .prepare_cpu_min = 0.25, .policy_hash = "1111111111111111"};
    DbRunSummary sum = {.finished = "2000-01-01T00:00:01Z", .accuracy = 0.5, .slo_met = 1, .ttft_p50_ms = 2,
                        .ttft_p99_ms = 3, .memory_bytes = 4, .attained = 0.5, .ttft_overhead_mean = 0,
                        .ttft_overhead_p99 = 0, .prompt_ratio = 1, .target_ratio = 1};
    long id1, id2, id3, found, n;
    DbRunSummary got;
    CHECK(db_run_begin(&db, &r, &id1, &e) == 0 && db_run_finish(&db, id1, &sum, &e) == 0);
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == id1 && n == 5);
    CHECK(got.accuracy == 0.5 && got.ttft_p99_ms == 3);
    /* the policy rebuilt: another hash finds nothing, nor does none */
    r.policy_hash = "2222222222222222";
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == 0);
    r.policy_hash = NULL;
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == 0);
    /* its own run is found, and the first one is again once its artefacts are back */
    r.policy_hash = "2222222222222222";
    CHECK(db_run_begin(&db, &r, &id2, &e) == 0 && db_run_finish(&db, id2, &sum, &e) == 0);
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == id2);
    r.policy_hash = "1111111111111111";
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == id1);
    /* a policy without artefacts: NULL matches NULL */
    r.policy = "full";
    r.policy_hash = NULL;
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == 0);
    CHECK(db_run_begin(&db, &r, &id3, &e) == 0 && db_run_finish(&db, id3, &sum, &e) == 0);
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == id3);
    /* a live run of the same configuration is another configuration, both ways */
    r.live = true;
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == 0);
    long id4;
    CHECK(db_run_begin(&db, &r, &id4, &e) == 0 && db_run_finish(&db, id4, &sum, &e) == 0);
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == id4);
    r.live = false;
    CHECK(db_run_find_complete(&db, &r, &found, &got, &n, &e) == 0 && found == id3);
    db_close(&db);
    sqlite3 *h;
    CHECK(sqlite3_open(test_path("find.db"), &h) == SQLITE_OK);
    char *hashes = dump(h, "SELECT id, policy, policy_hash, live FROM runs ORDER BY id");
    CHECK_MSG(!strcmp(hashes, "1|shortgpt|1111111111111111|0\n2|shortgpt|2222222222222222|0\n3|full|NULL|0\n"
                              "4|full|NULL|1\n"), "%s", hashes);
    free(hashes);
    sqlite3_close(h);
}

TEST(db_sim_cli_end_to_end) {
    SimFixture f;
    fixture_init(&f, "normalized", 12, 4, NULL);
    fixture_write(&f, test_tmpdir(), 12, 4);
    const char *tmp = test_tmpdir();
    char cmd[3000], *out = NULL;
    snprintf(cmd, sizeof cmd, "trace gen --requests 36 --arrival sequential --seed 42 --data %s -o %s/t.jsonl",
             f.data_dir, tmp);
    CHECK(test_run_cli(cmd, &out) == 0);
    free(out);
    snprintf(cmd, sizeof cmd, "sim --trace %s/t.jsonl --policy full,oracle --profile normalized --model %s --db %s/r.db "
             "--data %s", tmp, f.model_dir, tmp, f.data_dir);
    int rc = test_run_cli(cmd, &out);
    CHECK_MSG(rc == 0, "%s", out);
    const char *p1 = strstr(out, "policy full requests 36 accuracy ");
    const char *p2 = strstr(out, "policy oracle requests 36 accuracy ");
    CHECK_MSG(p1 && p2, "%s", out);
    if (p2) {
        double acc, met, att, p50, p99, mem;
        CHECK(sscanf(p2, "policy oracle requests 36 accuracy %lf slo_met %lf attained %lf ttft_p50_ms %lf "
                         "ttft_p99_ms %lf memory_mb %lf", &acc, &met, &att, &p50, &p99, &mem) == 6);
        CHECK(met == 1.0 && att == acc && p50 > 0 && p99 >= p50 && mem > 0);
    }
    CHECK_MSG(!strstr(out, "evaluations: 0 computed"), "%s", out);
    free(out);
    /* a second invocation finds every evaluation in the database */
    rc = test_run_cli(cmd, &out);
    CHECK(rc == 0);
    CHECK_MSG(strstr(out, "evaluations: 0 computed"), "%s", out);
    free(out);
    char path[700];
    snprintf(path, sizeof path, "%s/r.db", tmp);
    sqlite3 *h;
    CHECK(sqlite3_open(path, &h) == SQLITE_OK);
    CHECK(q1(h, "SELECT count(*) FROM runs WHERE complete = 1") == 4);
    CHECK(q1(h, "SELECT count(*) FROM requests") == 4 * 36);
    char *cmdline = dump(h, "SELECT command FROM runs WHERE id = 1");
    CHECK_MSG(!strncmp(cmdline, "elms sim --trace ", 17), "%s", cmdline);
    free(cmdline);
    sqlite3_close(h);
    /* bad inputs: clear messages, usage errors exit 2, runtime errors exit 1 */
    snprintf(cmd, sizeof cmd, "sim --trace %s/t.jsonl --policy full,nosuch --model %s --data %s", tmp, f.model_dir,
             f.data_dir);
    CHECK(test_run_cli(cmd, &out) == 2);
    CHECK_MSG(strstr(out, "elms sim: unknown policy 'nosuch'"), "%s", out);
    free(out);
    snprintf(cmd, sizeof cmd, "sim --trace %s/nothere.jsonl --model %s", tmp, f.model_dir);
    CHECK(test_run_cli(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "elms sim: ") && strstr(out, "nothere.jsonl"), "%s", out);
    free(out);
    char bad[700];
    snprintf(bad, sizeof bad, "%s/bad.json", tmp);
    Err e;
    const char *txt = "{\"name\":\"x\",\"device\":\"d\",\"source\":\"s\"}";
    CHECK(io_write_atomic(bad, txt, strlen(txt), &e) == 0);
    snprintf(cmd, sizeof cmd, "sim --trace %s/t.jsonl --profile %s --model %s --data %s", tmp, bad, f.model_dir,
             f.data_dir);
    CHECK(test_run_cli(cmd, &out) == 1);
    CHECK_MSG(strstr(out, "field target: missing"), "%s", out);
    free(out);
    fixture_free(&f);
}
