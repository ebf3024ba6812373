/* db: the SQLite results database (see db.h). */
#include "sim/db.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { ST_RUN, ST_RUN_FINISH, ST_REQ, ST_EVAL_GET, ST_EVAL_PUT, ST_CAL, ST_N };

static const char *const SQL[ST_N] = {
    "INSERT INTO runs (created, git_rev, command, seed, policy, compressor, trace, profile, model, model_hash, "
    "scheduler, n_requests, complete) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0)",
    "UPDATE runs SET complete = 1, finished = ?, accuracy = ?, slo_met = ?, ttft_p50_ms = ?, ttft_p99_ms = ?, "
    "memory_bytes = ? WHERE id = ?",
    "INSERT INTO requests (run, request, app, item, arrival_ms, slo_ttft_ms, slo_tpot_ms, level, ratio, "
    "prompt_tokens, kept_tokens, output_tokens, queue_ms, tlm_ms, switch_ms, prefill_ms, decode_ms, ttft_ms, "
    "tpot_ms, ttft_met, tpot_met, slo_met, choice, correct, memory_bytes) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "SELECT choice, correct, margin FROM evals WHERE model_hash = ? AND config = ? AND app = ? AND item = ?",
    "INSERT OR REPLACE INTO evals (model_hash, config, app, item, choice, correct, margin) VALUES (?,?,?,?,?,?,?)",
    "INSERT INTO calibration (created, profile, model, phase, level, tokens, measured_ms, predicted_ms) "
    "VALUES (?,?,?,?,?,?,?,?)",
};

static int fail(Db *d, Err *e, const char *what) {
    return err_set(e, "database: %s: %s", what, d->h ? sqlite3_errmsg(d->h) : "not open");
}

static int exec(Db *d, const char *sql, Err *e) {
    char *msg = NULL;
    if (sqlite3_exec(d->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        err_set(e, "database: %s: %s", sql, msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int db_open(Db *d, const char *path, Err *e) {
    memset(d, 0, sizeof *d);
    if (sqlite3_open_v2(path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        err_set(e, "database %s: cannot open: %s", path, d->h ? sqlite3_errmsg(d->h) : "out of memory");
        sqlite3_close(d->h);
        d->h = NULL;
        return -1;
    }
    sqlite3_busy_timeout(d->h, 10000);
    if (exec(d, "PRAGMA journal_mode = WAL", e) || exec(d, "PRAGMA synchronous = NORMAL", e) ||
        exec(d, "PRAGMA foreign_keys = ON", e) || exec(d, DB_SCHEMA_SQL, e))
        goto bad;
    for (int i = 0; i < ST_N; i++)
        if (sqlite3_prepare_v2(d->h, SQL[i], -1, &d->st[i], NULL) != SQLITE_OK) {
            fail(d, e, "preparing a statement");
            goto bad;
        }
    return 0;
bad:
    err_prefix(e, "%s", path);
    db_close(d);
    return -1;
}

void db_close(Db *d) {
    if (!d->h) return;
    db_commit(d, NULL);
    for (int i = 0; i < ST_N; i++) sqlite3_finalize(d->st[i]);
    sqlite3_close(d->h);
    memset(d, 0, sizeof *d);
}

int db_commit(Db *d, Err *e) {
    if (!d->in_tx) return 0;
    d->in_tx = false;
    d->pending = 0;
    return exec(d, "COMMIT", e);
}

/* Opens a batch transaction if none is open; commits it when it holds DB_BATCH writes. */
static int batch_before(Db *d, Err *e) {
    if (d->in_tx) return 0;
    if (exec(d, "BEGIN", e)) return -1;
    d->in_tx = true;
    d->pending = 0;
    return 0;
}

static int batch_after(Db *d, Err *e) {
    if (++d->pending >= DB_BATCH) return db_commit(d, e);
    return 0;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v) {
    if (v) sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else sqlite3_bind_null(s, i);
}

static void bind_real(sqlite3_stmt *s, int i, double v) {
    if (isnan(v)) sqlite3_bind_null(s, i);
    else sqlite3_bind_double(s, i, v);
}

static int step_done(Db *d, sqlite3_stmt *s, Err *e, const char *what) {
    int rc = sqlite3_step(s);
    int bad = rc != SQLITE_DONE;
    if (bad) fail(d, e, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return bad ? -1 : 0;
}

int db_run_begin(Db *d, const DbRun *r, long *run_id, Err *e) {
    if (db_commit(d, e)) return -1;
    sqlite3_stmt *s = d->st[ST_RUN];
    bind_text(s, 1, r->created);
    bind_text(s, 2, r->git_rev);
    bind_text(s, 3, r->command ? r->command : "");
    sqlite3_bind_int64(s, 4, r->seed);
    bind_text(s, 5, r->policy);
    bind_text(s, 6, r->compressor);
    bind_text(s, 7, r->trace ? r->trace : "");
    bind_text(s, 8, r->profile ? r->profile : "");
    bind_text(s, 9, r->model ? r->model : "");
    bind_text(s, 10, r->model_hash ? r->model_hash : "");
    bind_text(s, 11, r->scheduler ? r->scheduler : "fcfs");
    sqlite3_bind_int64(s, 12, r->n_requests);
    if (step_done(d, s, e, "adding a run")) return -1;
    *run_id = (long)sqlite3_last_insert_rowid(d->h);
    return 0;
}

int db_run_finish(Db *d, long run_id, const DbRunSummary *x, Err *e) {
    if (db_commit(d, e)) return -1;
    sqlite3_stmt *s = d->st[ST_RUN_FINISH];
    bind_text(s, 1, x->finished);
    bind_real(s, 2, x->accuracy);
    bind_real(s, 3, x->slo_met);
    bind_real(s, 4, x->ttft_p50_ms);
    bind_real(s, 5, x->ttft_p99_ms);
    bind_real(s, 6, x->memory_bytes);
    sqlite3_bind_int64(s, 7, run_id);
    return step_done(d, s, e, "finishing a run");
}

int db_request_add(Db *d, long run_id, const DbRequest *r, Err *e) {
    if (batch_before(d, e)) return -1;
    sqlite3_stmt *s = d->st[ST_REQ];
    int i = 1;
    sqlite3_bind_int64(s, i++, run_id);
    sqlite3_bind_int64(s, i++, r->request);
    bind_text(s, i++, r->app);
    bind_text(s, i++, r->item);
    sqlite3_bind_double(s, i++, r->arrival_ms);
    sqlite3_bind_double(s, i++, r->slo_ttft_ms);
    sqlite3_bind_double(s, i++, r->slo_tpot_ms);
    sqlite3_bind_double(s, i++, r->level);
    sqlite3_bind_double(s, i++, r->ratio);
    sqlite3_bind_int(s, i++, r->prompt_tokens);
    sqlite3_bind_int(s, i++, r->kept_tokens);
    sqlite3_bind_int(s, i++, r->output_tokens);
    sqlite3_bind_double(s, i++, r->queue_ms);
    sqlite3_bind_double(s, i++, r->tlm_ms);
    sqlite3_bind_double(s, i++, r->switch_ms);
    sqlite3_bind_double(s, i++, r->prefill_ms);
    sqlite3_bind_double(s, i++, r->decode_ms);
    sqlite3_bind_double(s, i++, r->ttft_ms);
    sqlite3_bind_double(s, i++, r->tpot_ms);
    sqlite3_bind_int(s, i++, r->ttft_met);
    sqlite3_bind_int(s, i++, r->tpot_met);
    sqlite3_bind_int(s, i++, r->slo_met);
    if (r->correct < 0) {
        sqlite3_bind_null(s, i++);
        sqlite3_bind_null(s, i++);
    } else {
        sqlite3_bind_int(s, i++, r->choice);
        sqlite3_bind_int(s, i++, r->correct);
    }
    sqlite3_bind_double(s, i++, r->memory_bytes);
    if (step_done(d, s, e, "adding a request")) return -1;
    return batch_after(d, e);
}

int db_eval_get(Db *d, const char *model_hash, const char *config, const char *app, const char *item, int *choice,
                int *correct, double *margin, int *found, Err *e) {
    sqlite3_stmt *s = d->st[ST_EVAL_GET];
    bind_text(s, 1, model_hash);
    bind_text(s, 2, config);
    bind_text(s, 3, app);
    bind_text(s, 4, item);
    int rc = sqlite3_step(s);
    *found = rc == SQLITE_ROW;
    if (*found) {
        *choice = sqlite3_column_int(s, 0);
        *correct = sqlite3_column_int(s, 1);
        *margin = sqlite3_column_double(s, 2);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(d, e, "reading evals");
    return 0;
}

int db_eval_put(Db *d, const char *model_hash, const char *config, const char *app, const char *item, int choice,
                int correct, double margin, Err *e) {
    if (batch_before(d, e)) return -1;
    sqlite3_stmt *s = d->st[ST_EVAL_PUT];
    bind_text(s, 1, model_hash);
    bind_text(s, 2, config);
    bind_text(s, 3, app);
    bind_text(s, 4, item);
    sqlite3_bind_int(s, 5, choice);
    sqlite3_bind_int(s, 6, correct);
    sqlite3_bind_double(s, 7, margin);
    if (step_done(d, s, e, "adding an eval")) return -1;
    return batch_after(d, e);
}

int db_calibration_add(Db *d, const char *created, const char *profile, const char *model, const char *phase,
                       double level, long tokens, double measured_ms, double predicted_ms, Err *e) {
    if (batch_before(d, e)) return -1;
    sqlite3_stmt *s = d->st[ST_CAL];
    bind_text(s, 1, created);
    bind_text(s, 2, profile);
    bind_text(s, 3, model);
    bind_text(s, 4, phase);
    bind_real(s, 5, level);
    if (tokens >= 0) sqlite3_bind_int64(s, 6, tokens);
    else sqlite3_bind_null(s, 6);
    sqlite3_bind_double(s, 7, measured_ms);
    bind_real(s, 8, predicted_ms);
    if (step_done(d, s, e, "adding a calibration point")) return -1;
    return batch_after(d, e);
}

void db_now_utc(char *out, int cap) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, (size_t)cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
