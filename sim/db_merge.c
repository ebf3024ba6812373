/* db_merge: combine results databases, shards into whole runs (see db_merge.h). The inputs are attached one at
 * a time (SQLite attaches a handful at most): a first pass copies their complete shard runs into temporary
 * tables and checks that every group is whole, before anything is written; a second adds each input's
 * evaluations, calibration points and whole runs in a transaction of its own; a last one writes the merged
 * runs. */
#include "sim/db_merge.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileutil.h"
#include "sim/db.h"
#include "sim/runstats.h"

/* Two runs a and b have the same configuration (shard count aside); CONFIG_COLUMNS lists the same columns for a
 * GROUP BY. A run of rebuilt artefacts (another policy hash) is another configuration, and so are a run priced by
 * another version of a profile of the same name (another profile hash) and a live run (elms sim --live) of a
 * simulated one. */
#define SAME_CONFIG(a, b)                                                                                        \
    a ".policy = " b ".policy AND " a ".policy_hash IS " b ".policy_hash AND " a ".compressor IS " b            \
    ".compressor AND " a ".trace = " b ".trace AND " a ".trace_hash IS " b ".trace_hash AND " a ".profile = " b \
    ".profile AND " a ".model_hash = " b ".model_hash AND " a ".scheduler = " b ".scheduler AND " a ".seed = " b \
    ".seed AND " a ".live = " b ".live AND " a ".profile_hash IS " b ".profile_hash"
#define CONFIG_COLUMNS                                                                                           \
    "policy, policy_hash, compressor, trace, trace_hash, profile, model_hash, scheduler, seed, live, profile_hash"

typedef struct Merge {
    Db d;                        /* OUT */
    const char *in;              /* the input being read (for messages) */
    char run_cols[2048];         /* runs columns but id, comma-separated */
    char req_cols[2048];         /* requests columns but run */
    char req_cols_q[2560];       /* the same, each prefixed "q." */
    DbMergeReport *rep;
} Merge;

static int db_error(Merge *m, const char *what, Err *e) {
    return err_set(e, "%s: database: %s: %s", m->in ? m->in : m->d.path, what, sqlite3_errmsg(m->d.h));
}

static int run_sql(Merge *m, const char *sql, Err *e) {
    char *msg = NULL;
    if (sqlite3_exec(m->d.h, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    err_set(e, "%s: database: %s: %s", m->in ? m->in : m->d.path, sql, msg ? msg : "error");
    sqlite3_free(msg);
    return -1;
}

/* prepare: sql compiled on OUT's connection (NULL after setting e, naming the input being read). */
static sqlite3_stmt *prepare(Merge *m, const char *sql, Err *e) {
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(m->d.h, sql, -1, &s, NULL) != SQLITE_OK) {
        db_error(m, sql, e);
        return NULL;
    }
    return s;
}

/* count_of: the integer sql (with integer parameters p[0..np)) returns. */
static int count_of(Merge *m, const char *sql, const long *p, int np, long *out, Err *e) {
    sqlite3_stmt *s = prepare(m, sql, e);
    if (!s) return -1;
    for (int i = 0; i < np; i++) sqlite3_bind_int64(s, i + 1, p[i]);
    int rc = sqlite3_step(s);
    *out = rc == SQLITE_ROW ? (long)sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(m, sql, e);
}

/* run_params: execute sql with integer parameters p[0..np) and an optional text parameter after them. */
static int run_params(Merge *m, const char *sql, const long *p, int np, const char *text, Err *e) {
    sqlite3_stmt *s = prepare(m, sql, e);
    if (!s) return -1;
    for (int i = 0; i < np; i++) sqlite3_bind_int64(s, i + 1, p[i]);
    if (text) sqlite3_bind_text(s, np + 1, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : db_error(m, sql, e);
}

/* columns: table's columns in OUT but skip, comma-separated, each after prefix. */
static int columns(Merge *m, const char *table, const char *skip, const char *prefix, char *out, size_t cap,
                   Err *e) {
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_table_info('%s') ORDER BY cid", table);
    sqlite3_stmt *s = prepare(m, sql, e);
    if (!s) return -1;
    size_t len = 0;
    out[0] = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (!strcmp(name, skip)) continue;
        len += (size_t)snprintf(out + len, cap > len ? cap - len : 0, "%s%s%s", len ? ", " : "", prefix, name);
    }
    sqlite3_finalize(s);
    return len < cap ? 0 : err_set(e, "%s: database: too many columns in %s", m->d.path, table);
}

static int attach(Merge *m, const char *path, Err *e) {
    m->in = NULL;
    sqlite3_stmt *s = prepare(m, "ATTACH DATABASE ? AS src", e);
    if (!s) return -1;
    sqlite3_bind_text(s, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    m->in = path;
    return rc == SQLITE_DONE ? 0 : db_error(m, "attaching it", e);
}

static void detach(Merge *m) {
    sqlite3_exec(m->d.h, "DETACH DATABASE src", NULL, NULL, NULL);
    m->in = NULL;
}

/* ---- pass 1: the shard runs of every input, and the check that each group is whole ---- */

static int collect_shards(Merge *m, long k, Err *e) {
    char sql[8192];
    snprintf(sql, sizeof sql, "INSERT INTO temp.merge_runs (src, id, %s) SELECT %ld, id, %s FROM src.runs "
             "WHERE complete = 1 AND shard_count > 1", m->run_cols, k, m->run_cols);
    if (run_sql(m, sql, e)) return -1;
    snprintf(sql, sizeof sql, "INSERT INTO temp.merge_requests (src, run, %s) SELECT %ld, run, %s FROM "
             "src.requests WHERE run IN (SELECT id FROM src.runs WHERE complete = 1 AND shard_count > 1)",
             m->req_cols, k, m->req_cols);
    if (run_sql(m, sql, e)) return -1;
    long incomplete;
    if (count_of(m, "SELECT count(*) FROM src.runs WHERE complete = 0", NULL, 0, &incomplete, e)) return -1;
    m->rep->incomplete_runs += incomplete;
    return 0;
}

/* check_groups: fail, naming them, when a group of shard runs misses a shard. */
static int check_groups(Merge *m, Err *e) {
    if (run_sql(m, "CREATE TEMP TABLE merge_pick AS SELECT p.* FROM temp.merge_runs p WHERE NOT EXISTS ("
                   "SELECT 1 FROM temp.merge_runs o WHERE " SAME_CONFIG("o", "p") " AND o.shard_count = p.shard_count"
                   " AND o.shard_index = p.shard_index AND (o.src > p.src OR (o.src = p.src AND o.id > p.id)))", e))
        return -1;
    sqlite3_stmt *s = prepare(m, "SELECT policy, trace, profile, seed, shard_count, group_concat(shard_index, ','), "
                                 "policy_hash FROM (SELECT * FROM temp.merge_pick ORDER BY shard_index) GROUP BY "
                                 CONFIG_COLUMNS ", shard_count HAVING count(*) != shard_count ORDER BY policy, "
                                 "trace", e);
    if (!s) return -1;
    int rc = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *hash = (const char *)sqlite3_column_text(s, 6);
        rc = err_set(e, "%s: policy %s on %s (profile %s, seed %lld%s%s): only shards %s of %d are complete in the "
                        "inputs; run the missing ones (elms sim --shard I/%d) and merge again", m->d.path,
                     sqlite3_column_text(s, 0), sqlite3_column_text(s, 1), sqlite3_column_text(s, 2),
                     sqlite3_column_int64(s, 3), hash ? ", policy hash " : "", hash ? hash : "",
                     sqlite3_column_text(s, 5), sqlite3_column_int(s, 4), sqlite3_column_int(s, 4));
    }
    sqlite3_finalize(s);
    return rc;
}

/* ---- pass 2: each input's evaluations, calibration points and whole runs ---- */

static int add_evals(Merge *m, Err *e) {
    sqlite3_stmt *s = prepare(m, "SELECT s.model_hash, s.config, s.app, s.item, s.choice, s.correct, o.choice, "
                                 "o.correct FROM src.evals s JOIN main.evals o ON o.model_hash = s.model_hash AND "
                                 "o.config = s.config AND o.app = s.app AND o.item = s.item WHERE "
                                 "o.choice != s.choice OR o.correct != s.correct LIMIT 1", e);
    if (!s) return -1;
    int rc = 0;
    if (sqlite3_step(s) == SQLITE_ROW)
        rc = err_set(e, "%s: evals: (%s, %s, %s, %s) answers choice %d (correct %d), but %s already holds choice "
                        "%d (correct %d): the databases come from different code, weights or thread counts",
                     m->in, sqlite3_column_text(s, 0), sqlite3_column_text(s, 1), sqlite3_column_text(s, 2),
                     sqlite3_column_text(s, 3), sqlite3_column_int(s, 4), sqlite3_column_int(s, 5), m->d.path,
                     sqlite3_column_int(s, 6), sqlite3_column_int(s, 7));
    sqlite3_finalize(s);
    long total;
    if (rc || count_of(m, "SELECT count(*) FROM src.evals", NULL, 0, &total, e)) return -1;
    if (run_sql(m, "INSERT OR IGNORE INTO main.evals (model_hash, config, app, item, choice, correct, margin) "
                   "SELECT model_hash, config, app, item, choice, correct, margin FROM src.evals", e))
        return -1;
    long added = sqlite3_changes(m->d.h);
    m->rep->evals_added += added;
    m->rep->evals_present += total - added;
    return 0;
}

static int add_calibration(Merge *m, Err *e) {
    if (run_sql(m, "INSERT INTO main.calibration (created, profile, model, phase, level, tokens, measured_ms, "
                   "predicted_ms) SELECT created, profile, model, phase, level, tokens, measured_ms, predicted_ms "
                   "FROM src.calibration s WHERE NOT EXISTS (SELECT 1 FROM main.calibration o WHERE "
                   "o.created IS s.created AND o.profile IS s.profile AND o.model IS s.model AND o.phase IS s.phase "
                   "AND o.level IS s.level AND o.tokens IS s.tokens AND o.measured_ms IS s.measured_ms AND "
                   "o.predicted_ms IS s.predicted_ms)", e))
        return -1;
    m->rep->calibration_added += sqlite3_changes(m->d.h);
    return 0;
}

/* ids_of: the integers sql returns, malloc'd into *ids (n). */
static int ids_of(Merge *m, const char *sql, long **ids, long *n, Err *e) {
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *s = prepare(m, sql, e);
    if (!s) return -1;
    long cap = 0;
    int rc = 0;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            long *p = realloc(*ids, sizeof *p * (size_t)cap);
            if (!p) rc = err_set(e, "out of memory");
            else *ids = p;
        }
        if (!rc) (*ids)[(*n)++] = (long)sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return rc;
}

static int add_whole_runs(Merge *m, Err *e) {
    long *ids, n;
    if (ids_of(m, "SELECT id FROM src.runs WHERE complete = 1 AND shard_count = 1 ORDER BY id", &ids, &n, e))
        return -1;
    char ins_run[4608], ins_req[4608];
    snprintf(ins_run, sizeof ins_run, "INSERT INTO main.runs (%s) SELECT %s FROM src.runs WHERE id = ?1",
             m->run_cols, m->run_cols);
    snprintf(ins_req, sizeof ins_req, "INSERT INTO main.requests (run, %s) SELECT ?1, %s FROM src.requests "
             "WHERE run = ?2", m->req_cols, m->req_cols);
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        long present;
        rc = count_of(m, "SELECT count(*) FROM main.runs o, src.runs r WHERE r.id = ?1 AND o.complete = 1 AND "
                         "o.shard_count = 1 AND " SAME_CONFIG("o", "r"), &ids[i], 1, &present, e);
        if (rc || present) {
            m->rep->present_runs += present > 0;
            continue;
        }
        rc = run_params(m, ins_run, &ids[i], 1, NULL, e);
        long p[2] = {(long)sqlite3_last_insert_rowid(m->d.h), ids[i]};
        if (!rc) rc = run_params(m, ins_req, p, 2, NULL, e);
        m->rep->copied_runs += !rc;
    }
    free(ids);
    return rc;
}

/* add_input: pass 2 for input k, in one transaction. */
static int add_input(Merge *m, const char *path, Err *e) {
    if (attach(m, path, e)) return -1;
    int rc = run_sql(m, "BEGIN IMMEDIATE", e);
    if (!rc) {
        rc = add_evals(m, e) || add_calibration(m, e) || add_whole_runs(m, e) ? -1 : 0;
        if (!rc) rc = run_sql(m, "COMMIT", e);
        if (rc) sqlite3_exec(m->d.h, "ROLLBACK", NULL, NULL, NULL);
    }
    detach(m);
    return rc;
}

/* ---- pass 3: the merged runs ---- */

#define GROUP_CTE                                                                                                \
    "WITH rep AS (SELECT * FROM temp.merge_pick WHERE src = ?1 AND id = ?2), grp AS (SELECT g.* FROM "           \
    "temp.merge_pick g, rep WHERE " SAME_CONFIG("g", "rep") " AND g.shard_count = rep.shard_count) "

/* add_merged: the whole run of the group whose shard 1 is run id of input src. */
static int add_merged(Merge *m, long src, long id, const char *command, Err *e) {
    long p[3] = {src, id, 0}, present, shards;
    if (count_of(m, GROUP_CTE "SELECT count(*) FROM main.runs o, rep WHERE o.complete = 1 AND o.shard_count = 1 "
                 "AND " SAME_CONFIG("o", "rep"), p, 2, &present, e) ||
        count_of(m, GROUP_CTE "SELECT count(*) FROM grp", p, 2, &shards, e))
        return -1;
    if (present) {
        m->rep->present_runs++;
        return 0;
    }
    char sql[8192];
    snprintf(sql, sizeof sql, "INSERT INTO main.runs (%s) SELECT %s FROM temp.merge_pick WHERE src = ?1 AND id = ?2",
             m->run_cols, m->run_cols);
    if (run_params(m, sql, p, 2, NULL, e)) return -1;
    p[2] = (long)sqlite3_last_insert_rowid(m->d.h);
    if (run_params(m, GROUP_CTE "UPDATE main.runs SET complete = 0, shard_index = 1, shard_count = 1, "
                   "n_requests = (SELECT sum(n_requests) FROM grp), created = (SELECT min(created) FROM grp), "
                   "git_rev = (SELECT CASE WHEN count(DISTINCT git_rev) = 1 AND count(git_rev) = count(*) THEN "
                   "max(git_rev) END FROM grp), command = ?4 WHERE id = ?3", p, 3, command, e))
        return -1;
    snprintf(sql, sizeof sql, GROUP_CTE "INSERT INTO main.requests (run, %s) SELECT ?3, %s FROM "
             "temp.merge_requests q JOIN grp ON q.src = grp.src AND q.run = grp.id", m->req_cols, m->req_cols_q);
    if (run_params(m, sql, p, 3, NULL, e)) return -1;
    /* the summary, from the merged rows, as a replay computes it; finished = the latest shard's */
    sqlite3_stmt *s = prepare(m, GROUP_CTE "SELECT max(finished) FROM grp", e);
    if (!s) return -1;
    sqlite3_bind_int64(s, 1, src);
    sqlite3_bind_int64(s, 2, id);
    char finished[64] = "";
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(finished, sizeof finished, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    SimSummary sum;
    DbRunSummary row;
    if (runstats_from_db(&m->d, p[2], &sum, e)) return -1;
    sim_summary_row(&sum, finished[0] ? finished : NULL, &row);
    if (db_run_finish(&m->d, p[2], &row, e)) return -1;
    m->rep->merged_runs++;
    m->rep->shards += shards;
    return 0;
}

static int add_merged_runs(Merge *m, const char *command, Err *e) {
    sqlite3_stmt *s = prepare(m, "SELECT src, id FROM temp.merge_pick WHERE shard_index = 1 ORDER BY src, id", e);
    if (!s) return -1;
    long (*reps)[2] = NULL, n = 0, cap = 0;
    int rc = 0;
    while (!rc && sqlite3_step(s) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            long (*q)[2] = realloc(reps, sizeof *q * (size_t)cap);
            if (!q) rc = err_set(e, "out of memory");
            else reps = q;
        }
        if (!rc) {
            reps[n][0] = (long)sqlite3_column_int64(s, 0);
            reps[n][1] = (long)sqlite3_column_int64(s, 1);
            n++;
        }
    }
    sqlite3_finalize(s);
    if (!rc) rc = run_sql(m, "BEGIN IMMEDIATE", e);
    for (long i = 0; i < n && !rc; i++) rc = add_merged(m, reps[i][0], reps[i][1], command, e);
    if (!rc) rc = run_sql(m, "COMMIT", e);
    else if (n) sqlite3_exec(m->d.h, "ROLLBACK", NULL, NULL, NULL);
    free(reps);
    return rc;
}

/* ---- the merge ---- */

/* same_file: whether a and b name the same existing file. */
static int same_file(const char *a, const char *b) {
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) && realpath(b, rb) && !strcmp(ra, rb);
}

/* check_inputs: every input an existing database other than out, at the current schema (migrated if older). */
static int check_inputs(const char *out, const char *const *in, int n_in, Err *e) {
    for (int k = 0; k < n_in; k++) {
        if (!path_is_file(in[k])) return err_set(e, "%s: no such database", in[k]);
        if (same_file(in[k], out)) return err_set(e, "%s: the output database cannot also be an input", in[k]);
        Db d;
        if (db_open(&d, in[k], e)) return -1;
        db_close(&d);
    }
    return 0;
}

static int prepare_tables(Merge *m, Err *e) {
    if (columns(m, "runs", "id", "", m->run_cols, sizeof m->run_cols, e) ||
        columns(m, "requests", "run", "", m->req_cols, sizeof m->req_cols, e) ||
        columns(m, "requests", "run", "q.", m->req_cols_q, sizeof m->req_cols_q, e))
        return -1;
    return run_sql(m, "CREATE TEMP TABLE merge_runs AS SELECT 0 AS src, * FROM main.runs WHERE 0; "
                      "CREATE TEMP TABLE merge_requests AS SELECT 0 AS src, * FROM main.requests WHERE 0", e);
}

int db_merge(const char *out, const char *const *in, int n_in, const char *command, DbMergeReport *rep, Err *e) {
    memset(rep, 0, sizeof *rep);
    if (check_inputs(out, in, n_in, e)) return -1;
    Merge m = {.rep = rep};
    if (db_open(&m.d, out, e)) return -1;
    int rc = prepare_tables(&m, e);
    for (int k = 0; k < n_in && !rc; k++) { /* pass 1: read only */
        rc = attach(&m, in[k], e);
        if (!rc) rc = collect_shards(&m, k, e);
        detach(&m);
    }
    if (!rc) rc = check_groups(&m, e);
    for (int k = 0; k < n_in && !rc; k++) rc = add_input(&m, in[k], e); /* pass 2 */
    if (!rc) rc = add_merged_runs(&m, command ? command : "elms db merge", e); /* pass 3 */
    if (!rc) rc = db_views_apply(&m.d, e);
    db_close(&m.d);
    return rc;
}
